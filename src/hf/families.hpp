// src/hf/families.hpp — which of posenc::hf's importers a config.json belongs to (posenc/hf_config.hpp
// EncodingKind): the model types that src/hf/absolute.cpp and src/hf/bias.cpp load, and the RoPE
// importer's refusal of the others (src/hf/encoding_kind.cpp).
#pragma once

#include <string>

#include "json_fields.hpp"
#include "posenc/hf_config.hpp"

namespace posenc::hf::detail {

// c: the object that holds model_type (the top level, or text_config where the RoPE importer reads it).
bool is_absolute_model(const Fields& c);  // absolute.cpp: a model type of load_absolute_config
bool is_alibi_model(const Fields& c);     // bias.cpp: bloom, mpt, falcon with alibi = true
bool is_t5_bias_model(const Fields& c);   // bias.cpp: the T5 family, or relative_attention_num_buckets

EncodingKind kind_of(const Fields& c);
// A warning when c names a model_type that posenc does not know to use RoPE and has none of the fields
// that describe one (rope_theta, rope_scaling, rope_parameters, rotary_dim, ...): the default RoPE it
// would describe may be a model's other encoding (DeBERTa's, XLNet's, ...). Empty otherwise.
std::string rope_doubt(const Fields& c);
// Throws a posenc::Error naming model_type (Falcon: alibi) and the importer to use unless kind_of(c)
// is Rope, and for the model types of other encodings that no importer reads (DeBERTa, XLNet, ...).
void refuse_unless_rope(const Fields& c);

}  // namespace posenc::hf::detail
