/* A container's sd_notify, for podman's --sdnotify=container: sends READY=1 to $NOTIFY_SOCKET
 * (which the OCI runtime binds into the container), then waits for SIGTERM and exits 0.
 * Static and libc-only, so it runs in a busybox image. */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void on_term(int sig) { (void)sig; _exit(0); }

int main(void) {
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        fprintf(stderr, "notify: NOTIFY_SOCKET is unset or too long\n");
        return 1;
    }
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strcpy(addr.sun_path, path);
    socklen_t len = sizeof(addr);
    if (path[0] == '@') { /* an abstract socket */
        addr.sun_path[0] = 0;
        len = offsetof(struct sockaddr_un, sun_path) + strlen(path);
    }
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const char msg[] = "READY=1\nSTATUS=notify: ready";
    if (fd < 0 || sendto(fd, msg, sizeof(msg) - 1, 0, (struct sockaddr *)&addr, len) < 0) {
        perror("notify: sending READY=1");
        return 1;
    }
    printf("notify: sent READY=1 to %s\n", path);
    fflush(stdout);
    signal(SIGTERM, on_term);
    for (;;)
        pause();
}
