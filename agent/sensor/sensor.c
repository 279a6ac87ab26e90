/* sensor.c - whether the eBPF sensor can run on this host (built with it,
 * kernel BTF, capabilities); compiled with or without the sensor itself. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bulwark/procfs.h"
#include "bulwark/sensor.h"

#define CAP_SYS_ADMIN_BIT 21
#define CAP_PERFMON_BIT 38
#define CAP_BPF_BIT 39
#define SENSOR_BTF "/sys/kernel/btf/vmlinux"

#ifdef BULWARK_HAVE_EBPF
/* The effective capability set of this process (the CapEff line). */
static int cap_effective(uint64_t *out)
{
    char buf[4096], *p;
    unsigned long long v;
    int rc = procfs_read("/proc/self/status", buf, sizeof buf, NULL);

    if (rc < 0)
        return rc;
    p = strstr(buf, "\nCapEff:");
    if (!p || sscanf(p + 8, "%llx", &v) != 1)
        return -1;
    *out = v;
    return 0;
}

bool sensor_ebpf_usable(char *why, size_t whylen)
{
    uint64_t caps = 0;
    bool admin, bpf;

    if (access(SENSOR_BTF, R_OK) != 0) {
        snprintf(why, whylen, "the kernel exposes no BTF ('%s')", SENSOR_BTF);
        return false;
    }
    if (cap_effective(&caps) < 0) {
        snprintf(why, whylen, "cannot read the agent's capabilities");
        return false;
    }
    admin = caps & (1ull << CAP_SYS_ADMIN_BIT);
    bpf = (caps & (1ull << CAP_BPF_BIT)) && (caps & (1ull << CAP_PERFMON_BIT));
    if (!admin && !bpf) {
        snprintf(why, whylen, "the agent lacks CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)");
        return false;
    }
    snprintf(why, whylen, "kernel BTF and %s present",
             bpf ? "CAP_BPF+CAP_PERFMON" : "CAP_SYS_ADMIN");
    return true;
}

#else  /* built without the sensor */
bool sensor_ebpf_usable(char *why, size_t whylen)
{
    snprintf(why, whylen, "this agent was built without the eBPF sensor");
    return false;
}

struct collector *collector_ebpf_new(const struct collector_env *env)
{
    (void)env;
    return NULL;
}

void collector_ebpf_stats(struct collector *c, struct sensor_stats *out)
{
    (void)c;
    *out = (struct sensor_stats){0};
}

const char *collector_ebpf_error(const struct collector *c)
{
    (void)c;
    return "";
}
#endif
