/* Enrichment of file events by introspection (enrich.c). */
#ifndef VMS_WATCH_ENRICH_H
#define VMS_WATCH_ENRICH_H

#include "vmsight/vmsight.h"

struct vms_watch_enricher;

struct vms_watch_enricher *watch_enricher_new(struct vms_kernel *k);
void watch_enricher_free(struct vms_watch_enricher *en);
/* Fill EV's ppid and cmdline from the guest's task list (valid until the
 * next call), or leave them unknown. */
void watch_enrich(struct vms_watch_enricher *en, struct vms_file_event *ev);

#endif
