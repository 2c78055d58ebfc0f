/* A static in-container probe for the conformance suite. Each command prints one JSON line
 * describing what the process sees, so the suite can check a config from inside the container
 * without a shell or busybox. Usage: checker CMD [ARG] [CMD [ARG] ...]; `wait` must be last. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Print s as a JSON string. */
static void jstr(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void err_line(const char *cmd, const char *arg, int e) {
    printf("{\"cmd\":\"%s\",\"arg\":", cmd);
    jstr(arg ? arg : "");
    printf(",\"errno\":%d,\"error\":", e);
    jstr(strerror(e));
    puts("}");
}

static void cmd_ids(void) {
    gid_t groups[256];
    int n = getgroups(256, groups);
    mode_t um = umask(0);
    umask(um);
    printf("{\"cmd\":\"ids\",\"uid\":%u,\"euid\":%u,\"gid\":%u,\"egid\":%u,\"umask\":%u,\"groups\":[",
           getuid(), geteuid(), getgid(), getegid(), (unsigned)um);
    for (int i = 0; i < n; i++)
        printf("%s%u", i ? "," : "", groups[i]);
    puts("]}");
}

/* The capability sets as hex strings from /proc/self/status, plus NoNewPrivs and Seccomp. */
static void cmd_caps(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) {
        err_line("caps", "/proc/self/status", errno);
        return;
    }
    char line[512];
    printf("{\"cmd\":\"caps\"");
    const char *keys[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"};
    while (fgets(line, sizeof line, f)) {
        for (unsigned i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            size_t k = strlen(keys[i]);
            if (strncmp(line, keys[i], k) == 0 && line[k] == ':') {
                char *v = line + k + 1;
                while (*v == ' ' || *v == '\t')
                    v++;
                v[strcspn(v, "\n")] = 0;
                printf(",\"%s\":", keys[i]);
                jstr(v);
            }
        }
    }
    fclose(f);
    printf(",\"no_new_privs_prctl\":%d}\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
}

static void cmd_rlimits(void) {
    static const struct {
        const char *name;
        int res;
    } rl[] = {{"RLIMIT_AS", RLIMIT_AS},         {"RLIMIT_CORE", RLIMIT_CORE},
              {"RLIMIT_CPU", RLIMIT_CPU},       {"RLIMIT_DATA", RLIMIT_DATA},
              {"RLIMIT_FSIZE", RLIMIT_FSIZE},   {"RLIMIT_LOCKS", RLIMIT_LOCKS},
              {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
              {"RLIMIT_NICE", RLIMIT_NICE},     {"RLIMIT_NOFILE", RLIMIT_NOFILE},
              {"RLIMIT_NPROC", RLIMIT_NPROC},   {"RLIMIT_RSS", RLIMIT_RSS},
              {"RLIMIT_RTPRIO", RLIMIT_RTPRIO}, {"RLIMIT_RTTIME", RLIMIT_RTTIME},
              {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING}, {"RLIMIT_STACK", RLIMIT_STACK}};
    printf("{\"cmd\":\"rlimits\"");
    for (unsigned i = 0; i < sizeof rl / sizeof rl[0]; i++) {
        struct rlimit r;
        getrlimit(rl[i].res, &r);
        /* RLIM_INFINITY as -1 keeps the JSON within i64. */
        printf(",\"%s\":{\"soft\":%lld,\"hard\":%lld}", rl[i].name,
               r.rlim_cur == RLIM_INFINITY ? -1LL : (long long)r.rlim_cur,
               r.rlim_max == RLIM_INFINITY ? -1LL : (long long)r.rlim_max);
    }
    puts("}");
}

static void cmd_cwd(void) {
    char buf[PATH_MAX];
    if (!getcwd(buf, sizeof buf)) {
        err_line("cwd", "", errno);
        return;
    }
    printf("{\"cmd\":\"cwd\",\"cwd\":");
    jstr(buf);
    puts("}");
}

static void cmd_env(void) {
    printf("{\"cmd\":\"env\",\"env\":[");
    for (char **e = environ; *e; e++) {
        if (e != environ)
            putchar(',');
        jstr(*e);
    }
    puts("]}");
}

static void cmd_args(int argc, char **argv) {
    printf("{\"cmd\":\"args\",\"args\":[");
    for (int i = 0; i < argc; i++) {
        if (i)
            putchar(',');
        jstr(argv[i]);
    }
    puts("]}");
}

static void cmd_hostname(void) {
    struct utsname u;
    uname(&u);
    printf("{\"cmd\":\"hostname\",\"hostname\":");
    jstr(u.nodename);
    printf(",\"domainname\":");
    jstr(u.domainname);
    puts("}");
}

static void cmd_ns(void) {
    const char *ns[] = {"cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"};
    printf("{\"cmd\":\"ns\"");
    for (unsigned i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        char p[64], buf[128];
        snprintf(p, sizeof p, "/proc/self/ns/%s", ns[i]);
        ssize_t n = readlink(p, buf, sizeof buf - 1);
        buf[n < 0 ? 0 : n] = 0;
        printf(",\"%s\":", ns[i]);
        jstr(buf);
    }
    printf(",\"mypid\":%d}\n", getpid());
}

static void cmd_stat(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) {
        err_line("stat", path, errno);
        return;
    }
    const char *t = S_ISCHR(st.st_mode)   ? "char"
                    : S_ISBLK(st.st_mode) ? "block"
                    : S_ISDIR(st.st_mode) ? "dir"
                    : S_ISREG(st.st_mode) ? "file"
                    : S_ISLNK(st.st_mode) ? "symlink"
                    : S_ISFIFO(st.st_mode) ? "fifo"
                                           : "other";
    printf("{\"cmd\":\"stat\",\"arg\":");
    jstr(path);
    printf(",\"type\":\"%s\",\"mode\":%u,\"uid\":%u,\"gid\":%u,\"major\":%u,\"minor\":%u", t,
           (unsigned)(st.st_mode & 07777), st.st_uid, st.st_gid, major(st.st_rdev),
           minor(st.st_rdev));
    if (S_ISLNK(st.st_mode)) {
        char buf[PATH_MAX];
        ssize_t n = readlink(path, buf, sizeof buf - 1);
        buf[n < 0 ? 0 : n] = 0;
        printf(",\"target\":");
        jstr(buf);
    }
    puts("}");
}

/* Try to create/append to PATH; errno 0 means the write worked. */
static void cmd_write(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int e = 0;
    if (fd < 0)
        e = errno;
    else {
        if (write(fd, "x", 1) != 1)
            e = errno;
        close(fd);
    }
    printf("{\"cmd\":\"write\",\"arg\":");
    jstr(path);
    printf(",\"errno\":%d}\n", e);
}

/* File contents as a JSON string (mountinfo, cgroup files, sysctls). */
static void cmd_cat(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        err_line("cat", path, errno);
        return;
    }
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    int e = ferror(f) ? errno : 0;
    fclose(f);
    if (e) {
        err_line("cat", path, e);
        return;
    }
    printf("{\"cmd\":\"cat\",\"arg\":");
    jstr(path);
    printf(",\"data\":");
    jstr(buf);
    puts("}");
}

static void cmd_sysctl(const char *key) {
    char path[PATH_MAX] = "/proc/sys/";
    size_t off = strlen(path);
    for (const char *k = key; *k && off < sizeof path - 1; k++)
        path[off++] = *k == '.' ? '/' : *k;
    path[off] = 0;
    cmd_cat(path);
}

static void cmd_ioprio(void) {
    /* IOPRIO_WHO_PROCESS = 1; class in bits 13+, level in the low bits. */
    long r = syscall(SYS_ioprio_get, 1, 0);
    if (r < 0) {
        err_line("ioprio", "", errno);
        return;
    }
    printf("{\"cmd\":\"ioprio\",\"class\":%ld,\"priority\":%ld}\n", r >> 13, r & 0x1fff);
}

static void cmd_sched(void) {
    struct sched_param p;
    int pol = sched_getscheduler(0);
    sched_getparam(0, &p);
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, 0);
    printf("{\"cmd\":\"sched\",\"policy\":%d,\"priority\":%d,\"nice\":%d}\n", pol,
           p.sched_priority, nice);
}

static void cmd_affinity(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) {
        err_line("affinity", "", errno);
        return;
    }
    printf("{\"cmd\":\"affinity\",\"cpus\":[");
    int first = 1;
    for (int i = 0; i < CPU_SETSIZE; i++)
        if (CPU_ISSET(i, &set)) {
            printf("%s%d", first ? "" : ",", i);
            first = 0;
        }
    puts("]}");
}

static void cmd_time(void) {
    struct timespec m, b;
    clock_gettime(CLOCK_MONOTONIC, &m);
    clock_gettime(CLOCK_BOOTTIME, &b);
    printf("{\"cmd\":\"time\",\"monotonic\":%lld,\"boottime\":%lld}\n", (long long)m.tv_sec,
           (long long)b.tv_sec);
}

static void cmd_tty(void) {
    printf("{\"cmd\":\"tty\",\"stdin\":%d,\"stdout\":%d,\"stderr\":%d}\n", isatty(0), isatty(1),
           isatty(2));
}

/* A raw syscall result, so a seccomp ERRNO action is visible (glibc caches nothing here). */
static void cmd_getppid_raw(void) {
    errno = 0;
    long r = syscall(SYS_getppid);
    printf("{\"cmd\":\"getppid\",\"ret\":%ld,\"errno\":%d}\n", r, r < 0 ? errno : 0);
}

/* Copy stdin to PATH: hooks inside the container get the state there. */
static void cmd_stdin_to(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        err_line("stdin_to", path, errno);
        exit(1);
    }
    char buf[4096];
    ssize_t n;
    while ((n = read(0, buf, sizeof buf)) > 0)
        if (write(fd, buf, n) != n)
            exit(1);
    close(fd);
}

/* The session keyring: its serial and KEYCTL_DESCRIBE text ("keyring;uid;gid;perm;name"). */
static void cmd_keyring(void) {
    /* KEYCTL_GET_KEYRING_ID = 0, KEY_SPEC_SESSION_KEYRING = -3, KEYCTL_DESCRIBE = 6 */
    long id = syscall(SYS_keyctl, 0, -3, 0);
    char desc[512] = "";
    if (id < 0 || syscall(SYS_keyctl, 6, id, desc, sizeof desc - 1) < 0) {
        err_line("keyring", "", errno);
        return;
    }
    printf("{\"cmd\":\"keyring\",\"id\":%ld,\"desc\":", id);
    jstr(desc);
    puts("}");
}

static void on_signal(int sig) {
    char buf[64];
    int n = snprintf(buf, sizeof buf, "{\"cmd\":\"signal\",\"signal\":%d}\n", sig);
    if (write(1, buf, n) < 0)
        _exit(2);
    _exit(0);
}

/* Stay alive until a catchable signal arrives, then report it: pid 1 ignores signals without
 * a handler, so kill tests need handlers. */
static void cmd_wait(void) {
    for (int s = 1; s < 32; s++)
        if (s != SIGKILL && s != SIGSTOP && s != SIGCHLD)
            signal(s, on_signal);
    puts("{\"cmd\":\"ready\"}");
    fflush(stdout);
    for (;;)
        pause();
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 1; i < argc; i++) {
        const char *c = argv[i];
        const char *a = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDS_ARG                                                                                  \
    if (!a) {                                                                                      \
        fprintf(stderr, "checker: %s needs an argument\n", c);                                     \
        return 2;                                                                                  \
    }                                                                                              \
    i++;
        if (!strcmp(c, "ids")) cmd_ids();
        else if (!strcmp(c, "caps")) cmd_caps();
        else if (!strcmp(c, "rlimits")) cmd_rlimits();
        else if (!strcmp(c, "cwd")) cmd_cwd();
        else if (!strcmp(c, "env")) cmd_env();
        else if (!strcmp(c, "args")) { cmd_args(argc, argv); return 0; }
        else if (!strcmp(c, "hostname")) cmd_hostname();
        else if (!strcmp(c, "ns")) cmd_ns();
        else if (!strcmp(c, "ioprio")) cmd_ioprio();
        else if (!strcmp(c, "sched")) cmd_sched();
        else if (!strcmp(c, "affinity")) cmd_affinity();
        else if (!strcmp(c, "personality")) printf("{\"cmd\":\"personality\",\"persona\":%d}\n", personality(0xffffffff));
        else if (!strcmp(c, "oom_score_adj")) cmd_cat("/proc/self/oom_score_adj");
        else if (!strcmp(c, "mounts")) cmd_cat("/proc/self/mountinfo");
        else if (!strcmp(c, "cgroup")) cmd_cat("/proc/self/cgroup");
        else if (!strcmp(c, "time")) cmd_time();
        else if (!strcmp(c, "tty")) cmd_tty();
        else if (!strcmp(c, "getppid")) cmd_getppid_raw();
        else if (!strcmp(c, "keyring")) cmd_keyring();
        else if (!strcmp(c, "wait")) cmd_wait();
        else if (!strcmp(c, "stat")) { NEEDS_ARG cmd_stat(a); }
        else if (!strcmp(c, "write")) { NEEDS_ARG cmd_write(a); }
        else if (!strcmp(c, "cat")) { NEEDS_ARG cmd_cat(a); }
        else if (!strcmp(c, "sysctl")) { NEEDS_ARG cmd_sysctl(a); }
        else if (!strcmp(c, "stdin_to")) { NEEDS_ARG cmd_stdin_to(a); }
        else if (!strcmp(c, "exit")) { NEEDS_ARG fflush(stdout); return atoi(a); }
        else {
            fprintf(stderr, "checker: unknown command %s\n", c);
            return 2;
        }
    }
    return 0;
}
