#include "daemon/daemon.h"

#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <errno.h>

#include "util/log.h"

#define IPLIMIT_SLOTS 8192	/* open addressing, power of two */
#define IPLIMIT_PROBE 32	/* slots looked at per address */

struct ip_slot {
	uint8_t addr[16];
	uint8_t len;
	uint16_t count[DAEMON_MAX_WORKERS];
};

struct iplimit {
	pthread_mutex_t lock;
	struct ip_slot slots[IPLIMIT_SLOTS];
};

struct iplimit *
iplimit_new(void)
{
	pthread_mutexattr_t a;
	struct iplimit *il;

	il = mmap(NULL, sizeof(*il), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (il == MAP_FAILED)
		return NULL;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	/* a worker killed while holding the lock must not wedge the others */
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&il->lock, &a);
	pthread_mutexattr_destroy(&a);
	return il;
}

static void
lock(struct iplimit *il)
{
	if (pthread_mutex_lock(&il->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&il->lock);
}

static uint32_t
hash(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	while (n--)
		h = (h ^ *p++) * 16777619u;
	return h;
}

static unsigned
total(const struct ip_slot *s)
{
	unsigned t = 0;
	int i;

	for (i = 0; i < DAEMON_MAX_WORKERS; i++)
		t += s->count[i];
	return t;
}

/* find - the slot holding addr, or a free one in *freep */
static struct ip_slot *
find(struct iplimit *il, const void *addr, size_t len,
    struct ip_slot **freep)
{
	uint32_t h = hash(addr, len);
	int i;

	*freep = NULL;
	for (i = 0; i < IPLIMIT_PROBE; i++) {
		struct ip_slot *s = &il->slots[(h + (uint32_t)i) &
		    (IPLIMIT_SLOTS - 1)];
		unsigned t = total(s);

		if (t > 0 && s->len == len && memcmp(s->addr, addr, len) == 0)
			return s;
		if (t == 0 && *freep == NULL)
			*freep = s;
	}
	return NULL;
}

bool
iplimit_acquire(struct iplimit *il, int slot, const void *addr, size_t len,
    int max)
{
	struct ip_slot *s, *fr;
	bool ok = true;

	if (il == NULL || max <= 0 || len > 16)
		return true;
	lock(il);
	if ((s = find(il, addr, len, &fr)) != NULL) {
		if (total(s) >= (unsigned)max || s->count[slot] == UINT16_MAX)
			ok = false;
		else
			s->count[slot]++;
	} else if (fr != NULL) {
		memset(fr, 0, sizeof(*fr));
		memcpy(fr->addr, addr, len);
		fr->len = (uint8_t)len;
		fr->count[slot] = 1;
	}
	/* A full table fails open: the limit is a courtesy, not a lock. */
	pthread_mutex_unlock(&il->lock);
	return ok;
}

void
iplimit_release(struct iplimit *il, int slot, const void *addr, size_t len)
{
	struct ip_slot *s, *fr;

	if (il == NULL || len > 16)
		return;
	lock(il);
	if ((s = find(il, addr, len, &fr)) != NULL && s->count[slot] > 0)
		s->count[slot]--;
	pthread_mutex_unlock(&il->lock);
}

void
iplimit_clear_slot(struct iplimit *il, int slot)
{
	size_t i;

	if (il == NULL)
		return;
	lock(il);
	for (i = 0; i < IPLIMIT_SLOTS; i++)
		il->slots[i].count[slot] = 0;
	pthread_mutex_unlock(&il->lock);
}
