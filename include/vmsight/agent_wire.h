/*
 * The wire format between vmsight-agent (in the guest) and the host.
 *
 * This is the only file the agent and libvmsight share. It has no code and
 * no dependencies beyond <stdint.h>, so the agent stays a static binary with
 * nothing but libc. Everything here is little-endian x86-64 layout, the same
 * on both sides; fields are naturally aligned so no packing is needed.
 *
 * One event travels as a *blob*: a struct vms_wire_event followed by the
 * process name, the path and the second path (renames), back to back, not
 * NUL-terminated. Both channels carry blobs:
 *
 *  - shm: a ring of fixed-size slots after a one-page header, in an
 *    ivshmem region. An event takes 1..VMS_WIRE_MAX_SLOTS consecutive slots
 *    (the blob continues in the data area of the next slots). Every slot
 *    starts with its sequence number plus one, stored last (release), so a
 *    slot whose seq is not "position + 1" is not written yet. The agent is
 *    the only producer, the host the only consumer; the host publishes how
 *    far it has read in `tail`, the agent never overwrites unread slots and
 *    counts an event it cannot place as dropped.
 *  - vcpu: a byte stream of frames (magic, length, blob) written to an
 *    I/O port one byte per OUT instruction (isa-debugcon accepts only
 *    1-byte accesses), which QEMU forwards to a host socket.
 *
 * The host treats every byte as hostile: lengths, counts and indices are
 * checked against its own limits before use, and slots are copied out of
 * the shared region before they are parsed. See docs/watch.md.
 */
#ifndef VMSIGHT_AGENT_WIRE_H
#define VMSIGHT_AGENT_WIRE_H

#include <stdint.h>

#define VMS_WIRE_MAGIC 0x57534d56u /* "VMSW" */
#define VMS_WIRE_VERSION 1u
#define VMS_WIRE_HEADER_BYTES 4096u
#define VMS_WIRE_SLOT_BYTES 256u
#define VMS_WIRE_SLOT_DATA (VMS_WIRE_SLOT_BYTES - 8u)

/* Longest strings an event carries: the kernel's PATH_MAX and TASK_COMM_LEN. */
#define VMS_WIRE_PATH_MAX 4096u
#define VMS_WIRE_COMM_MAX 16u

/* Event kinds. File events first, then the agent's own notices. */
enum vms_wire_kind {
	VMS_WIRE_EV_OPEN = 1,
	VMS_WIRE_EV_ACCESS = 2,      /* read */
	VMS_WIRE_EV_MODIFY = 3,      /* write */
	VMS_WIRE_EV_CLOSE_WRITE = 4, /* close of a file opened for writing */
	VMS_WIRE_EV_EXEC = 5,        /* opened for execution */
	VMS_WIRE_EV_CREATE = 6,
	VMS_WIRE_EV_DELETE = 7,
	VMS_WIRE_EV_RENAME = 8, /* path = old name, path2 = new name */
	VMS_WIRE_EV_FILE_LAST = VMS_WIRE_EV_RENAME,
	VMS_WIRE_EV_HELLO = 32,  /* first record of an agent run; path = description */
	VMS_WIRE_EV_STATUS = 33, /* heartbeat, about once a second: counters only */
	VMS_WIRE_EV_LAST = VMS_WIRE_EV_STATUS,
};

/* Event flags. */
enum {
	VMS_WIRE_F_DIR = 1u << 0,    /* the object is a directory */
	VMS_WIRE_F_TRUNC = 1u << 1,  /* a path was longer than VMS_WIRE_PATH_MAX and cut */
	VMS_WIRE_F_NOPATH = 1u << 2, /* the agent could not resolve the path (object gone) */
	VMS_WIRE_F_NOPROC = 1u << 3, /* the process had exited: name and uid unknown */
	VMS_WIRE_F_FID = 1u << 4,    /* reported by the FID (directory entry) group */
	VMS_WIRE_F_MERGED = 1u << 5, /* one of several kinds the kernel merged into one event */
};

/* The fixed part of a blob: 64 bytes. */
struct vms_wire_event {
	uint16_t kind;       /* enum vms_wire_kind */
	uint16_t flags;      /* VMS_WIRE_F_* */
	uint16_t comm_len;   /* bytes of process name after this struct, <= VMS_WIRE_COMM_MAX */
	uint16_t path_len;   /* bytes of path after the name, <= VMS_WIRE_PATH_MAX */
	uint16_t path2_len;  /* bytes of second path after the path, <= VMS_WIRE_PATH_MAX */
	uint16_t nslots;     /* shm: slots this event takes; vcpu: 0 */
	uint32_t generation; /* agent run number (1, 2, ... across restarts on one region) */
	int32_t pid;         /* thread group id; -1 unknown */
	int32_t tid;         /* thread id; -1 unknown */
	uint32_t uid;        /* effective uid; UINT32_MAX unknown */
	int32_t result;      /* 0 success (fanotify reports completed operations), -errno, or INT32_MIN unknown */
	uint64_t ts_ns;      /* guest CLOCK_MONOTONIC when the agent read the event */
	uint64_t event_id;   /* running number of this agent run, counting dropped events too */
	uint64_t dropped;    /* events the agent dropped so far (channel full), this region's total */
	uint64_t overflows;  /* kernel fanotify queue overflows seen so far (events lost before the agent) */
};

#define VMS_WIRE_EVENT_MAX_BYTES (64u + VMS_WIRE_COMM_MAX + 2u * VMS_WIRE_PATH_MAX)
/* Slots an event of BYTES bytes takes (BYTES >= 64). */
#define VMS_WIRE_SLOTS_FOR(bytes) (((bytes) + VMS_WIRE_SLOT_DATA - 1u) / VMS_WIRE_SLOT_DATA)
#define VMS_WIRE_MAX_SLOTS VMS_WIRE_SLOTS_FOR(VMS_WIRE_EVENT_MAX_BYTES)
/* The smallest ring an agent may use: room for a few largest events. */
#define VMS_WIRE_MIN_SLOTS (4u * VMS_WIRE_MAX_SLOTS)

/*
 * The shm region's header (first VMS_WIRE_HEADER_BYTES of the region).
 * Producer and consumer fields live on separate cache lines.
 *
 * An agent (re)starting on a region clears `magic`, sets nslots,
 * start_seq (= the previous run's head, so sequence numbers continue),
 * generation + 1, then stores `magic` last. The host re-reads the header
 * when its generation changes.
 */
struct vms_wire_header {
	/* written once per agent run */
	uint32_t magic;        /* VMS_WIRE_MAGIC once the header is valid */
	uint16_t version;      /* VMS_WIRE_VERSION */
	uint16_t header_bytes; /* VMS_WIRE_HEADER_BYTES */
	uint32_t slot_bytes;   /* VMS_WIRE_SLOT_BYTES */
	uint32_t nslots;       /* slots in the ring, VMS_WIRE_MIN_SLOTS.. (fits the region) */
	uint32_t generation;
	int32_t agent_pid;
	uint64_t start_seq; /* first sequence number of this run */
	uint8_t pad0[32];
	/* producer: the agent */
	uint64_t head;         /* sequence number after the last published event */
	uint64_t dropped;      /* events dropped because the ring was full (all runs) */
	uint64_t overflows;    /* kernel queue overflows (all runs) */
	uint64_t heartbeat_ns; /* guest CLOCK_MONOTONIC, updated about once a second */
	uint64_t events;       /* events published (all runs) */
	uint8_t pad1[24];
	/* consumer: the host */
	uint64_t tail; /* sequence number of the next slot the host will read */
	uint8_t pad2[56];
};

/* A slot: sequence number + 1 (0 = never written), then data. */
struct vms_wire_slot {
	uint64_t seq;
	uint8_t data[VMS_WIRE_SLOT_DATA];
};

/*
 * vcpu channel framing: FRAME_MAGIC and the blob's length (both 32-bit
 * little-endian), then the blob. Each byte crosses in one OUT.
 */
#define VMS_WIRE_FRAME_MAGIC 0x46534d56u /* "VMSF" */
#define VMS_WIRE_DEFAULT_PORT 0x0560     /* isa-debugcon iobase the lab uses */

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(struct vms_wire_event) == 64, "wire event is 64 bytes");
_Static_assert(sizeof(struct vms_wire_header) == 192, "wire header layout");
_Static_assert(sizeof(struct vms_wire_slot) == VMS_WIRE_SLOT_BYTES, "slot size");
#endif

#endif
