/*
 * berth's exec stub: the container's first program is this tiny static binary,
 * run from a sealed memfd, which only execve()s the real program.
 *
 * Why: the runtime sets the container up in a forked copy of the berth binary.
 * If it exec'd the user's program directly, a program (or a script interpreter
 * line) naming /proc/self/exe would run the host's berth binary inside the
 * container, and the container could then reopen that file for writing
 * (runc's CVE-2019-5736). Exec'ing this stub first makes /proc/self/exe a
 * sealed in-memory copy of the stub instead, at the cost of one tiny exec
 * rather than runc's copy of its whole binary.
 *
 * argv: [program path, argv0, argv1, ...]; the environment is passed through.
 */
typedef unsigned long size_t;

#if defined(__x86_64__)
#define NR_write 1
#define NR_execve 59
#define NR_exit_group 231
__asm__(".text\n.global _start\n_start:\n"
        "  mov %rsp, %rdi\n"
        "  and $-16, %rsp\n"
        "  call stub_main\n"
        "  hlt\n");
static long sys3(long n, long a, long b, long c) {
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}
#elif defined(__aarch64__)
#define NR_write 64
#define NR_execve 221
#define NR_exit_group 94
__asm__(".text\n.global _start\n_start:\n"
        "  mov x0, sp\n"
        "  bl stub_main\n");
static long sys3(long n, long a, long b, long c) {
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    return x0;
}
#else
#error "exec stub: unsupported architecture"
#endif

static size_t len(const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

static void put(const char *s) { sys3(NR_write, 2, (long)s, (long)len(s)); }

__attribute__((used, noreturn)) void stub_main(long *sp) {
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    char **envp = argv + argc + 1;
    if (argc < 2) {
        put("berth exec stub: no program given\n");
        sys3(NR_exit_group, 127, 0, 0);
    }
    long err = -sys3(NR_execve, (long)argv[0], (long)(argv + 1), (long)envp);
    char num[24];
    int i = sizeof(num) - 1;
    num[i] = 0;
    do {
        num[--i] = (char)('0' + err % 10);
        err /= 10;
    } while (err && i > 0);
    put("berth: exec ");
    put(argv[0]);
    put(" failed: errno ");
    put(num + i);
    put("\n");
    sys3(NR_exit_group, 127, 0, 0);
    for (;;) {}
}
