/* tok/export.h: writing a GGUF's embedded tokenizer as Hugging Face files.
 *
 * `cada convert` puts tokenizer.json and tokenizer_config.json beside the model it
 * writes, so the folder is complete for transformers (AutoTokenizer) and for cada.
 * tokenizer.json is built from the GGUF keys as transformers' GGUF converter builds
 * its tokenizer (model BPE over tokenizer.ggml.tokens / merges; token type 3 (control)
 * -> special added token, 4 (user-defined) -> added token), with the pre-tokenizer of
 * tokenizer.ggml.pre:
 *   "default", "gpt2"  ByteLevel (GPT-2 regex)
 *   "smollm"           Sequence[Digits(individual_digits), ByteLevel] (SmolLM2's own
 *                      published tokenizer.json)
 * Any other model or pre value is CADA_ERR_UNSUPPORTED (the caller says the tokenizer
 * was not written). tokenizer_config.json carries bos/eos/unk/pad tokens, add_bos_token,
 * add_eos_token, the chat template and tokenizer_class "PreTrainedTokenizerFast", the
 * class that makes AutoTokenizer use tokenizer.json unchanged (a model-specific class
 * such as GPT2Tokenizer would rebuild it with its own pre-tokenizer);
 * tests/ref/check_tokenizer_export.py checks AutoTokenizer against tokenizer.json. */
#ifndef CADA_TOK_EXPORT_H
#define CADA_TOK_EXPORT_H

#include "base/error.h"

cada_status cada_tok_export_gguf(const char *gguf_path, const char *out_dir);

#endif
