/* libFuzzer target: the parsers of QEMU's HMP text (`info mtree -f`,
 * `info registers`), which vmsight reads strictly. */
#include <stdlib.h>
#include <string.h>

#include "ctl/qemu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	struct vms_qemu_ram ram;
	qemu_parse_flatview(s, "ram", &ram);
	struct vms_regs r;
	qemu_parse_regs(s, &r);
	free(s);
	return 0;
}
