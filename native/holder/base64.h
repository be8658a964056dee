/* Base64, standard alphabet, padded. */
#ifndef KUASAR_HOLDER_BASE64_H
#define KUASAR_HOLDER_BASE64_H

#include <stdbool.h>
#include <stddef.h>

/* Writes 4 * ceil(n / 3) characters (no NUL) to out; returns that count. */
size_t b64_encode(const unsigned char *in, size_t n, char *out);
/* Strict: length a multiple of 4, '=' only as the final padding. out holds 3 * n / 4 bytes. */
bool b64_decode(const char *in, size_t n, unsigned char *out, size_t *outn);

#endif
