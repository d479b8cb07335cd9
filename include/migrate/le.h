/*
 * migrate/le.h - little-endian byte codec, internal to migrate/.
 *
 * The one encoder and decoder of the fixed-size little-endian fields that
 * the container image (migrate/image.h, docs/image-format.md) and the
 * migration protocol's messages (migrate/daemon.h, docs/protocol.md) are
 * made of. Byte by byte: no unaligned or endian-dependent loads, the same
 * result on every target. Freestanding; static inline, so nothing to
 * implement and nothing unused to warn about.
 *
 *   unsigned char b[8];
 *   migrate__le_put32(b, 0x474d4155u);     // b = 55 41 4d 47
 *   uint32_t v = migrate__le_get32(b);     // 0x474d4155
 *
 * put16 and put32 take a uint32_t and store its low 16 or 32 bits.
 */
#include "../uarea/config.h"

#ifndef MIGRATE_LE_H
#define MIGRATE_LE_H

UAREA_EXTERN_C_BEGIN

static inline void migrate__le_put16(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8);
}
static inline void migrate__le_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
}
static inline void migrate__le_put64(unsigned char *p, uint64_t v)
{
    migrate__le_put32(p, (uint32_t)v); migrate__le_put32(p + 4, (uint32_t)(v >> 32));
}
static inline uint32_t migrate__le_get16(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8);
}
static inline uint32_t migrate__le_get32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t migrate__le_get64(const unsigned char *p)
{
    return (uint64_t)migrate__le_get32(p) | ((uint64_t)migrate__le_get32(p + 4) << 32);
}

UAREA_EXTERN_C_END

#endif /* MIGRATE_LE_H */
