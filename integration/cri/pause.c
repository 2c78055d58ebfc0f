/* The pod sandbox's init for integration/cri: what Kubernetes' pause does and no more.
 * It holds the pod's namespaces, reaps orphans (it is pid 1 of the pod's pid namespace) and
 * exits on SIGINT or SIGTERM, which pid 1 would otherwise ignore, so StopPodSandbox is quick.
 * Built static with gcc in the test run; no registry image is pulled. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void quit(int sig) { _exit(128 + sig); }

static void reap(int sig) {
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

int main(void) {
    struct sigaction sa = {0};
    sa.sa_handler = quit;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = reap;
    sa.sa_flags = SA_NOCLDSTOP | SA_RESTART;
    sigaction(SIGCHLD, &sa, NULL);
    for (;;)
        pause();
}
