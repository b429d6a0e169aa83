/* libFuzzer target: opening arbitrary bytes as a dump file (ELF core, LiME
 * or raw) and reading through whatever layout it claims. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mem/source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-dump", 0);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	char path[64], err[512];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	struct vms_source *s;
	if (mem_dump_open(path, &s, err, sizeof(err)) == 0) {
		uint8_t buf[64];
		for (size_t i = 0; i < s->nranges; i++) {
			s->ops->read(s, s->ranges[i].gpa, buf, s->ranges[i].len < 64 ? s->ranges[i].len : 64);
			s->ops->read(s, s->ranges[i].gpa + s->ranges[i].len - 1, buf, 1);
		}
		struct vms_regs r;
		int n = s->ops->vcpus(s);
		for (int i = 0; i < n; i++)
			s->ops->regs(s, (unsigned)i, &r);
		s->ops->close(s);
	}
	close(fd);
	return 0;
}
