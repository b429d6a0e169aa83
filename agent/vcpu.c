/*
 * The vcpu channel: every byte of a frame leaves the guest in AL through
 * one OUT instruction to an isa-debugcon port, which QEMU hands to a host
 * socket. Nothing is shared in memory: each event crosses on vCPU traps
 * (one per byte; the device takes only 1-byte accesses). When the host
 * reads slowly QEMU's socket write blocks the vCPU, so this channel slows
 * the guest instead of dropping; the kernel's fanotify queue is then what
 * overflows, and that is counted.
 */
#include "agent.h"

#include <errno.h>
#include <sys/io.h>

static uint16_t vcpu_port;

int agent_vcpu_open(uint16_t port)
{
	if (ioperm(port, 1, 1) != 0)
		return -errno;
	vcpu_port = port;
	return 0;
}

static inline void out8(uint8_t v, uint16_t port)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

uint64_t agent_vcpu_trap_bench(unsigned long n)
{
	uint64_t t0 = agent_now_ns();
	for (unsigned long i = 0; i < n; i++)
		out8(0, vcpu_port);
	return n ? (agent_now_ns() - t0) / n : 0;
}

void agent_vcpu_send(const uint8_t *blob, size_t len)
{
	uint32_t head[2] = { VMS_WIRE_FRAME_MAGIC, (uint32_t)len };
	const uint8_t *h = (const uint8_t *)head;
	for (size_t i = 0; i < sizeof(head); i++)
		out8(h[i], vcpu_port);
	for (size_t i = 0; i < len; i++)
		out8(blob[i], vcpu_port);
}
