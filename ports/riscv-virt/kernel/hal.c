/*
 * hal.c - the Nanvix HAL calls of uarea_mppa256/nanvix.h on QEMU `virt`
 * (riscv64, machine mode), the console, the clock, and the C routines the
 * compiler calls (memcpy, memset, memmove, memcmp).
 *
 *   core_get_id()          mhartid (hart 0 = core 0, the master)
 *   core_start(c, fn)      posts fn for hart c and rings its msip
 *   event_notify(c)        sets hart c's event word; rings its msip when the
 *                          word rises (else the caller pauses 2 us: it is
 *                          waiting for that hart)
 *   event_wait()           waits (wfi, interrupts off, the hart's tick off)
 *                          until this hart's event word is set, and clears
 *                          it: a notify sent before the wait is kept
 *   interrupts_*()         mstatus.MIE
 *   clock_read()           mtime (10 MHz, read from the time CSR) x 40: the
 *                          chip's 400 MHz cycles
 *   kprintf()              a small formatter to the 16550, under a lock
 */
#include <stdarg.h>
#include <uarea_mppa256/nanvix.h>
#include "rv.h"

/* ---- boot state ------------------------------------------------------------ */
__attribute__((aligned(16))) unsigned char rv_kstack[RV_HARTS * RV_KSTACK_SIZE];
void (*volatile rv_core_entry[RV_HARTS])(void);
static volatile uint32_t rv_event[RV_HARTS];
#define RV_NOTIFY_PAUSE_TICKS 20u           /* 2 us */

static inline volatile uint32_t *rv_msip(int hart)
{
    return (volatile uint32_t *)(uintptr_t)(RV_CLINT_BASE + 4u * (unsigned)hart);
}

static inline volatile uint64_t *rv_mtimecmp(int hart)
{
    return (volatile uint64_t *)(uintptr_t)(RV_CLINT_BASE + RV_CLINT_MTIMECMP + 8u * (unsigned)hart);
}

uint32_t rv_boot_word(uintptr_t addr) { return *(volatile uint32_t *)addr; }

/* ---- console ---------------------------------------------------------------- */
#define RV_UART_THR 0
#define RV_UART_LSR 5
#define RV_UART_LSR_THRE 0x20

void rv_putc(char c)
{
    volatile uint8_t *u = (volatile uint8_t *)(uintptr_t)RV_UART_BASE;
    while (!(u[RV_UART_LSR] & RV_UART_LSR_THRE)) {
    }
    u[RV_UART_THR] = (uint8_t)c;
}

void rv_puts(const char *s)
{
    while (*s) rv_putc(*s++);
}

/* ---- time, counters, timer -------------------------------------------------- */
/* The time CSR, which QEMU reads from the same clock as the CLINT's mtime
 * without going through the device (an MMIO read of mtime takes QEMU's big
 * lock: the master, which polls the clock, would starve the timer
 * interrupts). */
uint64_t rv_mtime(void)
{
    uint64_t t;
    __asm__ volatile("rdtime %0" : "=r"(t));
    return t;
}

uint64_t rv_instret(void) { return RV_CSR_READ(minstret); }

void rv_timer_arm(int hart, uint64_t delta_ticks) { *rv_mtimecmp(hart) = rv_mtime() + delta_ticks; }

void rv_timer_off(int hart) { *rv_mtimecmp(hart) = UINT64_MAX; }

void rv_msip_clear(int hart) { *rv_msip(hart) = 0; }

/* Sleep until mtime reaches `until` or an interrupt comes: wfi with this
 * hart's timer set, interrupts off (the pending timer wakes the wfi and is
 * cleared before returning). */
void rv_sleep_until(int hart, uint64_t until)
{
    unsigned long mie_was = RV_CSR_READ(mstatus) & RV_MSTATUS_MIE;
    RV_CSR_CLEAR(mstatus, RV_MSTATUS_MIE);
    *rv_mtimecmp(hart) = until;
    if (rv_mtime() < until) __asm__ volatile("wfi");
    *rv_mtimecmp(hart) = UINT64_MAX;
    if (mie_was) RV_CSR_SET(mstatus, RV_MSTATUS_MIE);
}

void rv_halt(void)
{
    RV_CSR_CLEAR(mstatus, RV_MSTATUS_MIE);
    RV_CSR_WRITE(mie, 0);
    for (;;) __asm__ volatile("wfi");
}

/* ---- Nanvix HAL -------------------------------------------------------------- */
int core_get_id(void) { return (int)RV_CSR_READ(mhartid); }

int core_start(int coreid, void (*start)(void))
{
    if (coreid < 1 || coreid >= RV_HARTS || start == NULL) return -UAREA_MPPA256_EINVAL;
    if (rv_core_entry[coreid] != NULL) return -UAREA_MPPA256_EBUSY;
    __atomic_store_n(&rv_core_entry[coreid], start, __ATOMIC_SEQ_CST);
    *rv_msip(coreid) = 1;
    return 0;
}

/* The interrupt goes with the event's rise only: a notify that finds the
 * event still pending adds nothing (the hart has not waited since; it was
 * interrupted then, and its tick comes every millisecond), and a loop that
 * notifies (a release waiting for the core to leave) does not keep the
 * hart's software interrupt pending. */
void event_notify(int coreid)
{
    int me;
    if (coreid < 0 || coreid >= RV_HARTS) return;
    if (__atomic_exchange_n(&rv_event[coreid], 1u, __ATOMIC_SEQ_CST) == 0u) {
        *rv_msip(coreid) = 1;
        return;
    }
    /* still pending: the caller is waiting for that hart (the runtime's
     * release loop); sleep a little rather than spin, so that an emulator
     * running both harts on one thread lets that hart run */
    me = core_get_id();
    if (me != coreid) rv_sleep_until(me, rv_mtime() + RV_NOTIFY_PAUSE_TICKS);
}

/* A hart that waits has nothing to preempt: its tick is off until the
 * event comes (the wait is not woken every millisecond for nothing). */
void event_wait(void)
{
    int me = core_get_id();
    unsigned long mie_was = RV_CSR_READ(mstatus) & RV_MSTATUS_MIE;
    int ticking;
    RV_CSR_CLEAR(mstatus, RV_MSTATUS_MIE);
    if (__atomic_exchange_n(&rv_event[me], 0u, __ATOMIC_SEQ_CST)) {
        if (mie_was) RV_CSR_SET(mstatus, RV_MSTATUS_MIE);
        return;
    }
    ticking = *rv_mtimecmp(me) != UINT64_MAX;
    if (ticking) rv_timer_off(me);
    do {
        __asm__ volatile("wfi");
        *rv_msip(me) = 0;                 /* the notify's interrupt, pending: taken here */
    } while (!__atomic_exchange_n(&rv_event[me], 0u, __ATOMIC_SEQ_CST));
    if (ticking) rv_timer_arm(me, RV_TICK_TICKS);
    if (mie_was) RV_CSR_SET(mstatus, RV_MSTATUS_MIE);
}

void interrupts_disable(void) { RV_CSR_CLEAR(mstatus, RV_MSTATUS_MIE); }

void interrupts_enable(void) { RV_CSR_SET(mstatus, RV_MSTATUS_MIE); }

uint64_t clock_read(void)
{
    /* the port counts 400 MHz cycles (UAREA_MPPA256_CLOCK_HZ) */
    return rv_mtime() * (UAREA_MPPA256_CLOCK_HZ / RV_MTIME_HZ);
}

/* ---- kprintf ----------------------------------------------------------------- */
static volatile uint32_t rv_print_lock;

static void rv_out_num(unsigned long long v, unsigned base, int neg, int width, char pad, int left)
{
    char buf[24];
    int n = 0, len;
    do {
        unsigned d = (unsigned)(v % base);
        buf[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v != 0);
    len = n + (neg ? 1 : 0);
    if (neg && pad == '0') rv_putc('-');
    if (!left)
        for (; len < width; len++) rv_putc(pad);
    if (neg && pad != '0') rv_putc('-');
    while (n > 0) rv_putc(buf[--n]);
    if (left)
        for (; len < width; len++) rv_putc(' ');
}

static void rv_vprintf(const char *f, va_list ap)
{
    for (; *f; f++) {
        int width = 0, left = 0, lng = 0;
        char pad = ' ';
        if (*f != '%') {
            if (*f == '\n') rv_putc('\r');
            rv_putc(*f);
            continue;
        }
        f++;
        if (*f == '-') { left = 1; f++; }
        if (*f == '0') { pad = '0'; f++; }
        while (*f >= '0' && *f <= '9') width = width * 10 + (*f++ - '0');
        while (*f == 'l' || *f == 'z') { lng++; f++; }
        switch (*f) {
        case 'd': {
            long long v = lng ? va_arg(ap, long long) : va_arg(ap, int);
            unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
            rv_out_num(u, 10, v < 0, width, pad, left);
            break;
        }
        case 'u':
            rv_out_num(lng ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned), 10, 0, width,
                       pad, left);
            break;
        case 'x':
            rv_out_num(lng ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned), 16, 0, width,
                       pad, left);
            break;
        case 'p':
            rv_puts("0x");
            rv_out_num((uintptr_t)va_arg(ap, void *), 16, 0, width, pad, left);
            break;
        case 'c':
            rv_putc((char)va_arg(ap, int));
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            int len = 0;
            if (s == NULL) s = "(null)";
            while (s[len]) len++;
            if (!left)
                for (; len < width; len++) rv_putc(' ');
            rv_puts(s);
            if (left)
                for (; len < width; len++) rv_putc(' ');
            break;
        }
        case '%':
            rv_putc('%');
            break;
        case '\0':
            return;
        default:
            rv_putc('%');
            rv_putc(*f);
            break;
        }
    }
}

/* One call, one piece of output: the lock is held with interrupts off, so
 * the two harts' lines do not mix and a tick never stops a holder. */
void kprintf(const char *fmt, ...)
{
    va_list ap;
    unsigned long mie_was = RV_CSR_READ(mstatus) & RV_MSTATUS_MIE;
    RV_CSR_CLEAR(mstatus, RV_MSTATUS_MIE);
    while (__atomic_exchange_n(&rv_print_lock, 1u, __ATOMIC_ACQUIRE)) {
    }
    va_start(ap, fmt);
    rv_vprintf(fmt, ap);
    va_end(ap);
    __atomic_store_n(&rv_print_lock, 0u, __ATOMIC_RELEASE);
    if (mie_was) RV_CSR_SET(mstatus, RV_MSTATUS_MIE);
}

/* ---- what the compiler calls --------------------------------------------------
 * Word at a time when both pointers share their alignment. The build has
 * -fno-tree-loop-distribute-patterns, so these loops stay loops. */
void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
    unsigned char *d = (unsigned char *)dst;
    const unsigned char *s = (const unsigned char *)src;
    if ((((uintptr_t)d ^ (uintptr_t)s) & 7u) == 0) {
        while (n > 0 && ((uintptr_t)d & 7u)) { *d++ = *s++; n--; }
        for (; n >= 8; n -= 8, d += 8, s += 8) *(uint64_t *)d = *(const uint64_t *)s;
    }
    while (n > 0) { *d++ = *s++; n--; }
    return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = (unsigned char *)dst;
    const unsigned char *s = (const unsigned char *)src;
    size_t i;
    if (d == s || n == 0) return dst;
    if (d < s || d >= s + n) {
        for (i = 0; i < n; i++) d[i] = s[i];
    } else {
        while (n > 0) { n--; d[n] = s[n]; }
    }
    return dst;
}

void *memset(void *dst, int c, size_t n)
{
    unsigned char *d = (unsigned char *)dst;
    uint64_t w = (uint64_t)(unsigned char)c * 0x0101010101010101ull;
    while (n > 0 && ((uintptr_t)d & 7u)) { *d++ = (unsigned char)c; n--; }
    for (; n >= 8; n -= 8, d += 8) *(uint64_t *)d = w;
    while (n > 0) { *d++ = (unsigned char)c; n--; }
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
    for (; n > 0; n--, x++, y++)
        if (*x != *y) return *x < *y ? -1 : 1;
    return 0;
}
