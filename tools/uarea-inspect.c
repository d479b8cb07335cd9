/*
 * uarea-inspect - print and check a container image file.
 *
 *   uarea-inspect [--json] FILE
 *
 * FILE may be a pipe or a FIFO; - is standard input. The tool reads its input
 * once, whole, into memory (at most INSPECT_MAX_BYTES, 1 GiB), and both the
 * listing and the verdict come from those bytes, so a pipe gives what a file
 * with the same bytes gives (but for the name).
 *
 * Prints the image's header, every section (type, flags, address, length,
 * bytes stored), the sizes, and whether each CRC32C holds (header, section
 * headers, payloads, the stream CRC in the trailer). The verdict comes from
 * the library's own reader in verify-only mode, so the tool refuses exactly
 * what a restore would refuse (without the node-specific checks: fingerprints,
 * bounds and size limits).
 *
 * --json prints the same as one JSON object on one line, always valid UTF-8:
 * each byte of a string (the file name) that is not part of a valid UTF-8
 * sequence is written as \ufffd, control characters as \u00XX.
 *
 * Exit status: 0 the image is intact; 1 it is damaged (the first bad section
 * is named); 2 usage or I/O error (a file that cannot be opened or read, a
 * directory, an input above the limit: the file and the reason on stderr,
 * nothing on stdout; or the output could not be written). The format is
 * docs/image-format.md.
 */
#define _POSIX_C_SOURCE 200809L
#define UAREA_IMPLEMENTATION
#include <migrate/image.h>
#include <uarea/error.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The largest input the tool reads (it holds the whole image in memory). */
#ifndef INSPECT_MAX_BYTES
#define INSPECT_MAX_BYTES ((size_t)1 << 30)
#endif

static int json;

static const char *err_name(int err)
{
    switch (err) {
    case UAREA_EIMGMAGIC: return "UAREA_EIMGMAGIC";
    case UAREA_EIMGVERSION: return "UAREA_EIMGVERSION";
    case UAREA_EIMGLAYOUT: return "UAREA_EIMGLAYOUT";
    case UAREA_EIMGBINARY: return "UAREA_EIMGBINARY";
    case UAREA_EIMGTRUNC: return "UAREA_EIMGTRUNC";
    case UAREA_EIMGCRC: return "UAREA_EIMGCRC";
    case UAREA_EIMGBOUNDS: return "UAREA_EIMGBOUNDS";
    case UAREA_EIMGTOOBIG: return "UAREA_EIMGTOOBIG";
    case UAREA_EIMGFORMAT: return "UAREA_EIMGFORMAT";
    case UAREA_EIMGINCOMPLETE: return "UAREA_EIMGINCOMPLETE";
    case UAREA_EIO: return "UAREA_EIO";
    default: return "UAREA_E?";
    }
}

static const char *cpu_name(unsigned cpu)
{
    static const char *const names[] = { "unknown", "x86_64", "aarch64", "riscv64",
                                         "riscv32", "arm32", "k1b", "i386" };
    return cpu < sizeof names / sizeof names[0] ? names[cpu] : "unknown";
}

/* The length (2 to 4) of the valid UTF-8 sequence that starts at s, or 0 if
 * none does: a continuation byte, a lead byte not followed by its
 * continuation bytes, an overlong form, a surrogate (U+D800 to U+DFFF), a
 * code point above U+10FFFF, the bytes C0, C1 and F5 to FF (RFC 3629). s[0]
 * is at least 0x80 and s is NUL-terminated. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte */
    size_t n, i;
    if (s[0] < 0xC2) return 0;
    if (s[0] < 0xE0) n = 2;
    else if (s[0] < 0xF0) n = 3;
    else if (s[0] < 0xF5) n = 4;
    else return 0;
    if (s[0] == 0xE0) lo = 0xA0;      /* overlong below U+0800 */
    else if (s[0] == 0xED) hi = 0x9F; /* surrogates */
    else if (s[0] == 0xF0) lo = 0x90; /* overlong below U+10000 */
    else if (s[0] == 0xF4) hi = 0x8F; /* above U+10FFFF */
    if (s[1] < lo || s[1] > hi) return 0;
    for (i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return n;
}

/* Every string in the JSON output goes through here, so the output is always
 * valid UTF-8 JSON: '"' and '\\' are escaped, control characters become
 * \u00XX, valid UTF-8 is copied, and each byte that is not part of a valid
 * UTF-8 sequence becomes \ufffd (a file name need not be UTF-8). */
static void json_string(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    putchar('"');
    while (*s != '\0') {
        size_t n = *s < 0x80 ? 1 : utf8_len(s);
        if (n == 0) {
            fputs("\\ufffd", stdout);
            n = 1;
        } else if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if (*s < 0x20) printf("\\u%04x", *s);
        else fwrite(s, 1, n, stdout);
        s += n;
    }
    putchar('"');
}

static const char *flag_text(unsigned flags, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (flags & MIGRATE_SECF_ZERO) strncat(buf, "zero,", cap - strlen(buf) - 1);
    if (flags & MIGRATE_SECF_OPTIONAL) strncat(buf, "optional,", cap - strlen(buf) - 1);
    if (flags & ~(unsigned)MIGRATE_SECF_KNOWN) strncat(buf, "other,", cap - strlen(buf) - 1);
    if (buf[0] == '\0') return "-";
    buf[strlen(buf) - 1] = '\0';
    return buf;
}

/* The whole input, read once; the walk's position in it. */
struct input {
    const unsigned char *p;
    size_t len, pos;
};

/* The next n bytes of the input (fewer at its end): sets *p to them, returns
 * their count and feeds them to the stream CRC if scrc is not NULL. */
static size_t take(struct input *in, uint64_t n, const unsigned char **p, uint32_t *scrc)
{
    size_t got = in->len - in->pos;
    if (n < got) got = (size_t)n;
    *p = in->p + in->pos;
    in->pos += got;
    if (scrc != NULL) *scrc = migrate_crc32c_update(*scrc, *p, got);
    return got;
}

/* Reads fd to its end into a buffer that grows up to INSPECT_MAX_BYTES (the
 * size of a regular file sets its first size). Returns 0 and the malloc'd
 * bytes (never NULL, even for an empty input), or an errno value: EFBIG for
 * an input above the limit, EISDIR for a directory. */
static int read_all(int fd, unsigned char **out, size_t *out_len)
{
    struct stat st;
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0, want = 65536;
    int err;
    if (fstat(fd, &st) != 0) return errno;
    if (S_ISDIR(st.st_mode)) return EISDIR;
    if (S_ISREG(st.st_mode)) {
        if ((uintmax_t)st.st_size > INSPECT_MAX_BYTES) return EFBIG;
        want = (size_t)st.st_size + 1; /* + 1: the end shows as a read of 0 */
    }
    if (want > INSPECT_MAX_BYTES) want = INSPECT_MAX_BYTES + 1; /* + 1: sees an input too big */
    for (;;) {
        ssize_t n;
        if (len == cap) {
            unsigned char *grown;
            if (cap > INSPECT_MAX_BYTES) { err = EFBIG; break; }
            if (cap > 0) want = cap <= INSPECT_MAX_BYTES / 2 ? cap * 2 : INSPECT_MAX_BYTES + 1;
            grown = (unsigned char *)realloc(buf, want);
            if (grown == NULL) { err = ENOMEM; break; }
            buf = grown;
            cap = want;
        }
        n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) { err = errno; break; }
        if (n == 0) {
            *out = buf;
            *out_len = len;
            return 0;
        }
        len += (size_t)n;
    }
    free(buf);
    return err;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* The walk: decode and print everything that can be decoded, checking each
 * CRC on its own. Returns 0 if every CRC held and the image was complete. */
static int walk(struct input *in, const char *path)
{
    const unsigned char *hb, *sb, *tb, *pay, *cb;
    migrate_image_header h;
    uint32_t scrc = migrate_crc32c_init();
    uint64_t payload = 0, zero_bytes = 0;
    uint32_t i, zero = 0, optional = 0;
    int damaged = 0, lost = 0, hrc;
    char fl[32];

    if (json) {
        printf("{\"file\":");
        json_string(path);
        printf(",\"size\":%zu", in->len);
    } else {
        printf("file: %s (%zu bytes)\n", path, in->len);
    }
    if (take(in, MIGRATE_IMAGE_HEADER_SIZE, &hb, &scrc) < MIGRATE_IMAGE_HEADER_SIZE) {
        if (json) printf(",\"header\":null");
        else printf("header: truncated\n");
        return 1;
    }
    hrc = migrate_image_header_decode(hb, &h);
    if (hrc < 0 && hrc != UAREA_EIMGCRC) {
        if (json) {
            printf(",\"header\":{\"error\":");
            json_string(err_name(hrc));
            printf("}");
        } else {
            printf("header: %s (%s)\n", uarea_strerror(hrc), err_name(hrc));
        }
        return 1;
    }
    if (hrc == UAREA_EIMGCRC) {
        /* Show what the fields say, but do not walk on lengths nobody vouches for. */
        if (json) printf(",\"header\":{\"crc_ok\":false}");
        else printf("header: CRC mismatch; fields not trusted\n");
        return 1;
    }
    if (json) {
        printf(",\"header\":{\"version\":%u,\"word_size\":%u,\"cpu\":", h.version, h.word_size);
        json_string(cpu_name(h.cpu));
        printf(",\"page_size\":%" PRIu32 ",\"layout_fp\":\"0x%016" PRIx64
               "\",\"binary_fp\":\"0x%016" PRIx64 "\",\"sections\":%" PRIu32 ",\"total_len\":%" PRIu64
               ",\"container_size\":%" PRIu64 ",\"crc_ok\":true}",
               h.page_size, h.layout_fp, h.binary_fp, h.sections, h.total_len, h.container_size);
        printf(",\"sections\":[");
    } else {
        printf("header: format version %u, word size %u, cpu %s, page size %" PRIu32 "\n",
               h.version, h.word_size, cpu_name(h.cpu), h.page_size);
        printf("  layout fingerprint 0x%016" PRIx64 ", binary fingerprint 0x%016" PRIx64 "\n",
               h.layout_fp, h.binary_fp);
        printf("  %" PRIu32 " sections, image %" PRIu64 " bytes, container %" PRIu64 " bytes, header CRC ok\n",
               h.sections, h.total_len, h.container_size);
        printf("sections:\n  %5s  %-7s %-14s %-18s %10s %10s  %s\n", "#", "type", "flags", "address",
               "length", "stored", "crc");
    }
    for (i = 0; i < h.sections; i++) {
        migrate_image_section s;
        uint64_t stored;
        size_t got;
        int src;
        const char *verdict;
        if (take(in, MIGRATE_IMAGE_SECTION_SIZE, &sb, &scrc) < MIGRATE_IMAGE_SECTION_SIZE) {
            if (json) printf("%s{\"index\":%" PRIu32 ",\"truncated\":true}", i ? "," : "", i);
            else printf("  %5" PRIu32 "  truncated\n", i);
            damaged = lost = 1;
            break;
        }
        src = migrate_image_section_decode(sb, &s);
        if (src < 0) {
            if (json) printf("%s{\"index\":%" PRIu32 ",\"header_crc_ok\":false}", i ? "," : "", i);
            else printf("  %5" PRIu32 "  section header %s; stopping\n", i,
                        src == UAREA_EIMGCRC ? "CRC mismatch" : "malformed");
            damaged = lost = 1;
            break;
        }
        stored = migrate_image_section_stored(&s);
        got = take(in, stored, &pay, &scrc);
        if (got < stored || take(in, 4, &cb, &scrc) < 4) {
            verdict = "truncated";
            damaged = lost = 1;
        } else if (le32(cb) != migrate_crc32c(0, pay, got)) {
            verdict = "BAD";
            damaged = 1;
        } else {
            verdict = "ok";
        }
        payload += stored;
        if (s.flags & MIGRATE_SECF_ZERO) { zero++; zero_bytes += s.len; }
        if (s.flags & MIGRATE_SECF_OPTIONAL) optional++;
        if (json) {
            printf("%s{\"index\":%" PRIu32 ",\"type\":", i ? "," : "", s.index);
            json_string(migrate_image_section_name(s.type));
            printf(",\"type_id\":%u,\"flags\":%u,\"zero\":%s,\"optional\":%s,\"addr\":\"0x%016" PRIx64
                   "\",\"len\":%" PRIu64 ",\"stored\":%" PRIu64
                   ",\"header_crc_ok\":true,\"crc_ok\":%s,\"truncated\":%s}",
                   s.type, s.flags, (s.flags & MIGRATE_SECF_ZERO) ? "true" : "false",
                   (s.flags & MIGRATE_SECF_OPTIONAL) ? "true" : "false", s.addr, s.len, stored,
                   strcmp(verdict, "ok") == 0 ? "true" : "false",
                   strcmp(verdict, "truncated") == 0 ? "true" : "false");
        } else {
            printf("  %5" PRIu32 "  %-7s %-14s 0x%016" PRIx64 " %10" PRIu64 " %10" PRIu64 "  %s\n",
                   s.index, migrate_image_section_name(s.type), flag_text(s.flags, fl, sizeof fl),
                   s.addr, s.len, stored, verdict);
        }
        if (strcmp(verdict, "truncated") == 0) break;
    }
    if (json) printf("]");
    if (!lost) {
        uint32_t before = scrc, count = 0, crc = 0;
        int trc;
        if (take(in, MIGRATE_IMAGE_TRAILER_SIZE, &tb, NULL) < MIGRATE_IMAGE_TRAILER_SIZE) {
            if (json) printf(",\"trailer\":null");
            else printf("trailer: truncated\n");
            damaged = 1;
        } else {
            bool crc_ok;
            before = migrate_crc32c_update(before, tb, 12);
            trc = migrate_image_trailer_decode(tb, &count, &crc);
            crc_ok = crc == migrate_crc32c_final(before);
            if (!crc_ok || trc < 0 || count != h.sections) damaged = 1;
            if (json)
                printf(",\"trailer\":{\"sections\":%" PRIu32 ",\"magic_ok\":%s,\"crc_ok\":%s}", count,
                       trc == 0 ? "true" : "false", crc_ok ? "true" : "false");
            else
                printf("trailer: %" PRIu32 " sections, magic %s, stream CRC %s\n", count,
                       trc == 0 ? "ok" : "BAD", crc_ok ? "ok" : "BAD");
        }
    }
    if (json)
        printf(",\"sizes\":{\"payload\":%" PRIu64 ",\"zero_sections\":%" PRIu32
               ",\"zero_bytes_not_sent\":%" PRIu64 ",\"optional_sections\":%" PRIu32 "}",
               payload, zero, zero_bytes, optional);
    else
        printf("sizes: payload %" PRIu64 " bytes, %" PRIu32 " zero sections (%" PRIu64
               " bytes not sent), %" PRIu32 " optional, format overhead %" PRIu64 " bytes\n",
               payload, zero, zero_bytes, optional,
               h.total_len >= payload ? h.total_len - payload : 0);
    return damaged;
}

/* The exit status: status, or 2 if the output could not be written. */
static int done(int status)
{
    int err = 0;
    if (fflush(stdout) != 0) err = errno;
    else if (ferror(stdout)) err = EIO;
    if (err == 0) return status;
    fprintf(stderr, "uarea-inspect: cannot write the output: %s\n", strerror(err));
    return 2;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: uarea-inspect [--json] FILE\n"
                 "  FILE may be a pipe; - reads standard input. Exit status: 0 intact,\n"
                 "  1 damaged, 2 usage or I/O error.\n");
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    struct input in;
    unsigned char *data = NULL;
    size_t size = 0;
    int i, fd, err, damaged, rc;
    migrate_image_reader r;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) json = 1;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return done(0);
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "uarea-inspect: unknown option %s\n", argv[i]);
            return 2;
        } else if (path == NULL) path = argv[i];
        else { fprintf(stderr, "uarea-inspect: one file at a time\n"); return 2; }
    }
    if (path == NULL) {
        usage(stderr);
        return 2;
    }
    if (strcmp(path, "-") == 0) {
        fd = STDIN_FILENO;
    } else {
        fd = open(path, O_RDONLY);
        if (fd < 0) {
            fprintf(stderr, "uarea-inspect: cannot open %s: %s\n", path, strerror(errno));
            return 2;
        }
    }
    err = read_all(fd, &data, &size);
    if (fd != STDIN_FILENO) close(fd);
    if (err != 0) {
        fprintf(stderr, "uarea-inspect: cannot read %s: %s", path, strerror(err));
        if (err == EFBIG) fprintf(stderr, " (the limit is %zu bytes)", (size_t)INSPECT_MAX_BYTES);
        fputc('\n', stderr);
        return 2;
    }
    in.p = data;
    in.len = size;
    in.pos = 0;
    damaged = walk(&in, path);

    /* The verdict: the library's reader, verify-only, on the same bytes. */
    migrate_image_reader_init(&r, NULL, MIGRATE_IMAGE_VERIFY_ONLY);
    rc = migrate_image_feed(&r, data, size);
    if (rc >= 0) rc = migrate_image_finish(&r);
    free(data);
    if (rc == 0 && damaged) rc = UAREA_EIMGFORMAT; /* cannot happen if both agree */
    if (json) {
        printf(",\"ok\":%s", rc == 0 ? "true" : "false");
        if (rc < 0) {
            printf(",\"error\":{\"code\":%d,\"name\":", rc);
            json_string(err_name(rc));
            printf(",\"message\":");
            json_string(uarea_strerror(rc));
            if (!r.have_hdr) printf(",\"where\":\"header\"}");
            else if (r.section < r.hdr.sections)
                printf(",\"where\":\"section\",\"section\":%" PRIu32 "}", r.section);
            else printf(",\"where\":\"trailer\"}");
        }
        printf("}\n");
    } else if (rc == 0) {
        printf("result: ok\n");
    } else {
        printf("result: DAMAGED: %s (%s, %d) ", uarea_strerror(rc), err_name(rc), rc);
        if (!r.have_hdr) printf("in the header\n");
        else if (r.section < r.hdr.sections)
            if (r.phase == MIGRATE_IMAGE_AT_SECTION)
                printf("in section %" PRIu32 " (its header)\n", r.section);
            else
                printf("in section %" PRIu32 " (%s at 0x%016" PRIx64 ")\n", r.section,
                       migrate_image_section_name(r.cur.type), r.cur.addr);
        else printf("in the trailer\n");
    }
    return done(rc == 0 ? 0 : 1);
}
