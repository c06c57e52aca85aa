/* model/spm_shim.h — the C API of the posenc_spm module (model/spm_shim.cpp), the only code that touches
 * libsentencepiece.
 *
 * libsentencepiece exports its own bundled copy of protobuf-lite. Linked into a process that also loads
 * the system libprotobuf (LibTorch does), the dynamic linker binds libprotobuf's calls to sentencepiece's
 * copies and the process crashes during static initialisation. So posenc_tokenize never links
 * sentencepiece: model/tokenizer_spm.cpp dlopen()s this module with RTLD_LOCAL | RTLD_DEEPBIND
 * (sentencepiece binds to its own protobuf, and none of its symbols reach the global scope) and calls
 * these functions through dlsym.
 *
 * Conventions: no exception crosses this API. Functions returning int return 0 on success and nonzero
 * on failure; on failure *error_out (when error_out is not NULL) is a NUL-terminated message allocated by
 * the module. Every buffer the module hands out (proto bytes, ids, pieces, texts, error messages) is
 * released with posenc_spm_free; models with posenc_spm_free_model. Byte strings come with their sizes
 * and may contain NUL bytes. Ids are SentencePiece's 32-bit ids. A loaded model's const functions
 * (vocab size, encode, id_to_piece, decode) may be called from several threads at once.
 */
#ifndef POSENC_MODEL_SPM_SHIM_H
#define POSENC_MODEL_SPM_SHIM_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define POSENC_SPM_API __attribute__((visibility("default")))
#else
#define POSENC_SPM_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever a signature below changes; the loader refuses a module with another version. */
#define POSENC_SPM_ABI_VERSION 1

typedef struct posenc_spm_model posenc_spm_model;

POSENC_SPM_API int posenc_spm_abi_version(void);

/* Releases a buffer the module allocated (NULL is fine). */
POSENC_SPM_API void posenc_spm_free(void* buffer);

/* Trains a model in memory on n_lines sentences (lines[i] of line_sizes[i] bytes) with SentencePiece's
 * trainer flags (n_args pairs keys[i]=values[i], e.g. "vocab_size"="256"), after seeding SentencePiece's
 * random generator with seed and with its logging limited to errors. On success *proto_out /
 * *proto_size_out are the serialized ModelProto. On failure *error_out is SentencePiece's message. */
POSENC_SPM_API int posenc_spm_train(const char* const* lines, const size_t* line_sizes, size_t n_lines,
                                    const char* const* keys, const char* const* values, size_t n_args,
                                    uint32_t seed, char** proto_out, size_t* proto_size_out,
                                    char** error_out);

/* A model from the bytes of a serialized ModelProto, or NULL with *error_out (SentencePiece's message,
 * possibly empty when it gives none; "the model has no pieces" for a model without pieces). */
POSENC_SPM_API posenc_spm_model* posenc_spm_load(const char* proto, size_t proto_size, char** error_out);

/* Releases a model (NULL is fine). */
POSENC_SPM_API void posenc_spm_free_model(posenc_spm_model* model);

POSENC_SPM_API int32_t posenc_spm_vocab_size(const posenc_spm_model* model);

/* The ids of text (*n_ids_out of them at *ids_out; *ids_out may be NULL when there are none). */
POSENC_SPM_API int posenc_spm_encode(const posenc_spm_model* model, const char* text, size_t text_size,
                                     int32_t** ids_out, size_t* n_ids_out, char** error_out);

/* The piece of id, which must be in [0, vocab size). */
POSENC_SPM_API int posenc_spm_id_to_piece(const posenc_spm_model* model, int32_t id, char** piece_out,
                                          size_t* piece_size_out, char** error_out);

/* The text of n_ids ids, each in [0, vocab size). */
POSENC_SPM_API int posenc_spm_decode(const posenc_spm_model* model, const int32_t* ids, size_t n_ids,
                                     char** text_out, size_t* text_size_out, char** error_out);

#ifdef __cplusplus
}
#endif

#endif /* POSENC_MODEL_SPM_SHIM_H */
