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
 *
 * With an empty first argument ("", program path, argv0, ...) the stub is
 * also the container's init (docker's --init, as tini): it starts the
 * program as its child, forwards every signal it gets to it, reaps the
 * orphans the container leaves, and exits as the program did. Signals are
 * blocked and taken with rt_sigtimedwait, so no handler (and no signal
 * trampoline) is needed; blocked signals reach a pid namespace's init
 * even from the host, where a default disposition would drop them.
 */
typedef unsigned long size_t;

#define SIGCHLD 17
#define WNOHANG 1

#if defined(__x86_64__)
#define NR_write 1
#define NR_execve 59
#define NR_exit_group 231
#define NR_rt_sigprocmask 14
#define NR_rt_sigtimedwait 128
#define NR_kill 62
#define NR_wait4 61
#define NR_clone 56
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
static long sys4(long n, long a, long b, long c, long d) {
    long r;
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
    return r;
}
#elif defined(__aarch64__)
#define NR_write 64
#define NR_execve 221
#define NR_exit_group 94
#define NR_rt_sigprocmask 135
#define NR_rt_sigtimedwait 137
#define NR_kill 129
#define NR_wait4 260
#define NR_clone 220
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
static long sys4(long n, long a, long b, long c, long d) {
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
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

static void put_num(long v) {
    char num[24];
    int i = sizeof(num) - 1;
    num[i] = 0;
    do {
        num[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v && i > 0);
    put(num + i);
}

__attribute__((noreturn)) static void exec_or_die(char **argv, char **envp) {
    long err = -sys3(NR_execve, (long)argv[0], (long)(argv + 1), (long)envp);
    put("berth: exec ");
    put(argv[0]);
    put(" failed: errno ");
    put_num(err);
    put("\n");
    sys3(NR_exit_group, 127, 0, 0);
    for (;;) {}
}

/* The init: fork the program, forward signals, reap, exit as it did. */
__attribute__((noreturn)) static void init(char **argv, char **envp) {
    unsigned long all = ~0UL, old = 0;
    sys4(NR_rt_sigprocmask, 0 /* SIG_BLOCK */, (long)&all, (long)&old, 8);
    long child = sys3(NR_clone, SIGCHLD, 0, 0);
    if (child < 0) {
        put("berth init: fork failed\n");
        sys3(NR_exit_group, 127, 0, 0);
    }
    if (child == 0) {
        sys4(NR_rt_sigprocmask, 2 /* SIG_SETMASK */, (long)&old, 0, 8);
        exec_or_die(argv, envp);
    }
    for (;;) {
        long sig = sys4(NR_rt_sigtimedwait, (long)&all, 0, 0, 8);
        if (sig > 0 && sig != SIGCHLD) sys3(NR_kill, child, sig, 0);
        int status;
        long pid;
        while ((pid = sys4(NR_wait4, -1, (long)&status, WNOHANG, 0)) > 0) {
            if (pid != child) continue;
            int code = (status & 0x7f) ? 128 + (status & 0x7f) : (status >> 8) & 0xff;
            sys3(NR_exit_group, code, 0, 0);
        }
    }
}

__attribute__((used, noreturn)) void stub_main(long *sp) {
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    char **envp = argv + argc + 1;
    if (argc >= 3 && argv[0][0] == 0) init(argv + 1, envp);
    if (argc < 2) {
        put("berth exec stub: no program given\n");
        sys3(NR_exit_group, 127, 0, 0);
    }
    exec_or_die(argv, envp);
}
