/* The VM tier's console-socket receiver (runc's protocol): listen on SOCKET, take one pty master
 * passed with SCM_RIGHTS, and copy what the container writes to it into OUT until the terminal
 * goes away. Built static by run.sh, as the guest has no libc of its own.
 *
 * Usage: recvtty SOCKET OUT   (prints "ready" on stdout once it listens) */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: recvtty SOCKET OUT\n");
		return 2;
	}
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	strncpy(addr.sun_path, argv[1], sizeof(addr.sun_path) - 1);
	int ls = socket(AF_UNIX, SOCK_STREAM, 0);
	unlink(argv[1]);
	if (ls < 0 || bind(ls, (struct sockaddr *)&addr, sizeof(addr)) || listen(ls, 1)) {
		perror("listen");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	int c = accept(ls, NULL, NULL);
	char name[256];
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = name, .iov_len = sizeof(name)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf)};
	if (c < 0 || recvmsg(c, &msg, 0) < 0) {
		perror("recvmsg");
		return 1;
	}
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS) {
		fprintf(stderr, "recvtty: no fd received\n");
		return 1;
	}
	int master;
	memcpy(&master, CMSG_DATA(cm), sizeof(int));
	int out = open(argv[2], O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (out < 0) {
		perror("open");
		return 1;
	}
	char buf[4096];
	ssize_t n;
	while ((n = read(master, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n)
			return 1;
	return 0;
}
