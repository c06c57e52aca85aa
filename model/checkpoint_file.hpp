// model/checkpoint_file.hpp — the envelope of a checkpoint file, checked before LibTorch parses it.
//
// LibTorch's archive reader does not verify its zip CRCs, and damaged archives can crash its parser (a
// stack overflow in the TorchScript type parser) or load as silently wrong weights: flipping random bytes
// of a small checkpoint gave 161 loads, 136 errors and 3 segmentation faults in 300 tries. So the archive
// travels in an envelope whose size and CRC-32 are checked first:
//
//   offset  size  field
//        0     8  "POSENCCK"
//        8     4  envelope version, u32 little-endian (1)
//       12     4  CRC-32 of the payload (zlib's crc32, the ISO-HDLC / PNG polynomial), u32 little-endian
//       16     8  payload size in bytes, u64 little-endian
//       24     n  payload: the LibTorch archive (torch::serialize::OutputArchive::save_to, a zip)
//
// CRC-32 detects every error of up to 3 bits and every burst of up to 32 bits, and other damage with
// probability 1 - 2^-32. A file that starts with a zip's local header ("PK\3\4") is a checkpoint written
// before the envelope existed (posenc before 2026-11-29): it is read as it is, without the check.
#pragma once

#include <string>
#include <string_view>

namespace posenc::model {

// The envelope around an archive.
std::string seal_checkpoint(std::string_view archive);
// The archive inside a checkpoint file's bytes; throws posenc::Error naming the path when the file is
// not a checkpoint, is truncated or longer than its header says, or fails the CRC.
std::string_view unseal_checkpoint(std::string_view file, const std::string& path);

}  // namespace posenc::model
