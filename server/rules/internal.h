/* internal.h - what the rules engine's files share (not a public header):
 * the YAML tree, the condition AST, the field table, compiled conditions,
 * compiled rules and the ruleset. */
#ifndef BULWARK_RULES_INTERNAL_H
#define BULWARK_RULES_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bulwark/anomaly.h"
#include "bulwark/rules.h"

#define RULES_MSG_MAX 512
#define RULES_KINDS 10         /* event kinds 10..19 (a kind the schema lacks never occurs) */
#define RULES_ALL_KINDS 0x3ffu
#define RULES_KIND_BIT(body_case) (1u << ((body_case) - 10))
/* A set of event kinds: bit k is kind 10 + k. */
typedef uint16_t rules_kinds;
_Static_assert(RULES_KINDS <= 16, "rules_kinds holds a bit per kind");
#define RULES_MAX_GROUP_FIELDS 4
#define RULES_MAX_MEMBERS 8
#define RULES_LIST_MAX 256     /* values a list field yields */
#define RULES_OUTPUT_MAX 4096  /* rendered output, bytes */
#define RULES_KEY_MAX 512      /* group keys, bytes */

/* ------------------------------------------------------------ yaml tree */

enum ynode_type { Y_SCALAR, Y_SEQ, Y_MAP };

struct ynode {
    enum ynode_type type;
    unsigned line;      /* 1-based line of the node (of its content, for block scalars) */
    bool quoted;        /* scalar written in quotes or as a block */
    char *s;            /* scalar text */
    struct ynode **kids;  /* sequence items; for a map: key, value, key, value... */
    size_t n;
};

/* Parses a YAML file into a list of documents. On a syntax error returns
 * BW_ECONFIG with the line in *err_line and a message in err; BW_EIO when the
 * file cannot be read. */
int yaml_load_file(const char *path, struct ynode ***docs, size_t *ndocs, unsigned *err_line,
                   char *err, size_t errlen);
int yaml_load_string(const char *text, size_t len, struct ynode ***docs, size_t *ndocs,
                     unsigned *err_line, char *err, size_t errlen);
void yaml_free_docs(struct ynode **docs, size_t n);
const struct ynode *ynode_get(const struct ynode *map, const char *key);

/* -------------------------------------------------------- name index */

/* names.c: name -> index of an item (rule, macro, list); borrows the names. */
struct nameidx_slot {
    const char *name;
    size_t idx;
};

struct nameidx {
    struct nameidx_slot *slots;
    size_t cap, n;
    uint64_t *work;     /* counts probes when set */
};

/* Maps name to idx (replacing what it mapped to); 0 or BW_ENOMEM. */
int nameidx_put(struct nameidx *x, const char *name, size_t idx);
bool nameidx_get(struct nameidx *x, const char *name, size_t *idx);
void nameidx_release(struct nameidx *x);

/* ------------------------------------------------------ condition AST */

enum anode_type { A_AND, A_OR, A_NOT, A_REF, A_CMP };

struct avalue {
    char *s;
    bool quoted;
};

struct anode {
    enum anode_type type;
    size_t off;                 /* offset in the condition text */
    struct anode *a, *b;        /* AND/OR: a, b; NOT: a */
    char *name;                 /* REF: macro name; CMP: field name (with [arg]) */
    char *op;                   /* CMP: operator as written */
    char *unsupported;          /* CMP: reason it cannot run (transformer), or NULL */
    bool is_list;               /* CMP: value is a parenthesised list */
    struct avalue *vals;        /* CMP: one value, or the list */
    size_t nvals;
};

/* Parses a condition. On error returns BW_ECONFIG with the byte offset of the
 * problem in *err_off and a message in err. */
int cond_parse(const char *text, struct anode **out, size_t *err_off, char *err, size_t errlen);
void cond_free(struct anode *n);

/* --------------------------------------------------------------- fields */

/* VT_NET: IP addresses (fd.ip, fd.net, ...), the value one or two address
 * strings in list/n (a connection's two ends), the operands networks. */
enum vtype { VT_STR, VT_INT, VT_DBL, VT_BOOL, VT_LIST, VT_TYPE, VT_NET };

/* Field ids; fields.c holds the table (name, type, kinds, doc). */
enum field_id {
    F_NONE = 0,
    F_EVT_TYPE, F_EVT_DIR, F_EVT_TIME, F_EVT_NUM, F_EVT_IS_OPEN_WRITE, F_EVT_IS_OPEN_READ,
    F_EVT_RES, F_EVT_RAWRES, F_EVT_ARG, F_FD_NUM,
    F_KIND, F_SEVERITY, F_AGENT_ID, F_HOST_NAME,
    F_CONTAINER_ID, F_CONTAINER_NAME, F_CONTAINER_IMAGE, F_IMAGE_REPOSITORY, F_IMAGE_TAG,
    F_IMAGE_DIGEST, F_CONTAINER_RUNTIME, F_CONTAINER_PRIVILEGED, F_K8S_NS, F_K8S_POD, F_K8S_POD_UID,
    F_PROC_PID, F_PROC_PPID, F_PROC_NAME, F_PROC_EXE, F_PROC_CMDLINE, F_PROC_ARGS, F_PROC_PNAME,
    F_PROC_TTY, F_PROC_CWD, F_USER_UID, F_USER_NAME, F_GROUP_GID,
    /* exec-time fields from /proc: ancestors, sessions, namespaces, login */
    F_PROC_ANAME, F_PROC_ANAME_ANY, F_PROC_APID, F_PROC_AEXE, F_PROC_PEXE, F_PROC_PCMDLINE,
    F_PROC_SNAME, F_PROC_VPID, F_PROC_VTID, F_PROC_SID, F_PROC_PGID, F_PROC_VPGID,
    F_PROC_IS_VPGID_LEADER, F_PROC_IS_SID_LEADER, F_USER_LOGINUID, F_PROC_IS_EXE_FROM_MEMFD,
    F_THREAD_CAP_EFFECTIVE, F_THREAD_CAP_PERMITTED,
    F_FD_NAME, F_FD_NAMERAW, F_FD_DIRECTORY, F_FD_FILENAME, F_FD_TYPECHAR, F_FD_TYPE, F_FD_L4PROTO,
    F_FD_SIP, F_FD_CIP, F_FD_RIP, F_FD_LIP, F_FD_SPORT, F_FD_CPORT, F_FD_RPORT, F_FD_LPORT,
    F_FD_SIP_NAME, F_FD_RIP_NAME,
    F_NET_DIRECTION, F_NET_REMOTE_NAME, F_NET_DEST,
    F_FILE_OP, F_FILE_PATH, F_FILE_NEW_PATH,
    F_RES_CPU, F_RES_MEM, F_RES_MEM_LIMIT, F_RES_INTERVAL, F_RES_SCOPE,
    F_CFG_PRIVILEGED, F_CFG_USER_UID, F_CFG_CAP_ADD, F_CFG_HOST_NETWORK, F_CFG_HOST_PID,
    F_CFG_HOST_IPC, F_CFG_MOUNT_SOURCE, F_CFG_MOUNT_TARGET, F_CFG_MOUNT_RW_SOURCE, F_CFG_READ_ONLY_ROOTFS,
    F_CFG_NO_NEW_PRIVS, F_CFG_SECCOMP, F_CFG_APPARMOR, F_CFG_ENV_NAMES,
    F_VULN_ID, F_VULN_PACKAGE, F_VULN_INSTALLED, F_VULN_FIXED, F_VULN_SEVERITY, F_VULN_CVSS,
    F_VULN_TITLE, F_VULN_SCANNER, F_VULN_TARGET, F_VULN_PKG_PATH, F_SCAN_ARTIFACT,
    F_SCAN_ARTIFACT_TYPE,
    F_MISCONF_ID, F_MISCONF_AVD_ID, F_MISCONF_TITLE, F_MISCONF_SEVERITY, F_MISCONF_STATUS,
    F_MISCONF_MESSAGE, F_MISCONF_TARGET, F_MISCONF_TYPE, F_MISCONF_LINE,
    F_SECRET_RULE, F_SECRET_CATEGORY, F_SECRET_TITLE, F_SECRET_SEVERITY, F_SECRET_TARGET,
    F_SECRET_LINE, F_SECRET_MATCH,
    F_FALCO_RULE, F_FALCO_PRIORITY, F_FALCO_OUTPUT, F_FALCO_SOURCE, F_FALCO_TAGS, F_FALCO_FIELD,
    F_ANOMALY_MEAN, F_ANOMALY_SIGMA, F_ANOMALY_VALUE,  /* output only, anomaly rules */
    F_PROC_STDIN_SOCKET, F_PROC_STDOUT_SOCKET, F_PROC_STDERR_SOCKET, F_PROC_STDIO_RIP,
    F_PROC_STDIO_RPORT, F_PROC_EXE_UPPER_LAYER, F_PROC_EXE_AFTER_START,  /* exec attack signs */
    F_PROC_DURATION, F_FD_CONNECTED, F_FD_NAME_CHANGED,
    F_FD_IP, F_FD_NET, F_FD_SNET, F_FD_CNET, F_FD_LNET, F_FD_RNET,  /* VT_NET */
    F__COUNT
};

struct field_def {
    const char *name;
    enum field_id id;
    enum vtype type;
    rules_kinds kinds;      /* event kinds where the field can be present */
    bool takes_arg;     /* name[arg]; a name may have one entry of each form */
    const char *doc;
};

/* Per-event evaluation context: the event plus scratch space so that
 * fetching a derived field never allocates. */
struct evctx {
    const Bulwark__V1__Event *ev;
    const struct rules_event_meta *m;
    unsigned kind_bit;
    uint32_t type_bit;                 /* evt.type code of this event */
    char scratch[3][RULES_KEY_MAX];    /* fd.name, fd.directory, net.dest */
    char caps[1024];                   /* thread.cap_*: every name fits */
    const char *list[RULES_LIST_MAX];
    double anomaly_mean, anomaly_sigma, anomaly_value;
    bool has_anomaly;
};

struct fval {
    enum vtype type;
    const char *s;          /* VT_STR: NUL-terminated (no length: most tests never need one) */
    int64_t i;              /* VT_INT, VT_BOOL */
    double d;               /* VT_DBL */
    const char *const *list;  /* VT_LIST */
    size_t n;
};

const struct field_def *fields_lookup(const char *name, char *arg, size_t arglen);
const struct field_def *fields_table(size_t *n);
/* Fetches a field of the event: 0 and *v, or -1 when absent. arg is the
 * [arg] of fields that take one. */
int fields_get(struct evctx *c, enum field_id id, const char *arg, struct fval *v);
/* evt.type: the code bits a name stands for ("execve", "exec", "open"...),
 * 0 for a syscall name we never produce. */
uint32_t fields_type_bits(const char *name);
/* Sets kind_bit and type_bit of c for c->ev. */
void fields_prepare(struct evctx *c);
/* The evt.type bits events of kinds can have. */
uint32_t fields_kind_types(rules_kinds kinds);
/* The text of string field id on every event of kind index k (0 = exec)
 * when it depends on nothing but the kind (bulwark.kind, evt.dir); NULL for
 * any other field. */
const char *fields_kind_const(enum field_id id, size_t k);
/* For a string field that is a plain member of the event's ProcessRef
 * (proc.name, proc.cmdline, proc.exe, proc.pname: absent when the event
 * has no process): the member's offset, non-zero; 0 for any other field. */
size_t fields_proc_str_offset(enum field_id id);
/* Formats any value as text into dst (for output and group keys); returns
 * the text (maybe dst, maybe the value's own string). */
const char *fields_format(const struct fval *v, char *dst, size_t n);

/* ------------------------------------------------- compiled conditions */

/* C_KIND: a test that depends only on the event's kind (bulwark.kind =, !=,
 * in; evt.dir), true when kind_bit is in kinds. */
enum cnode_type { C_TRUE, C_FALSE, C_AND, C_OR, C_NOT, C_CMP, C_TYPE, C_KIND };
enum cop {
    OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_CONTAINS, OP_ICONTAINS, OP_STARTSWITH,
    OP_ENDSWITH, OP_GLOB, OP_IN, OP_INTERSECTS, OP_PMATCH, OP_EXISTS
};

struct strset;  /* hash set of strings (eval.c) */

/* An IP network operand ("10.0.0.0/8"; an address alone is /32 or /128). */
struct ipnet {
    unsigned char addr[16];    /* network order; IPv4 in the first 4 bytes */
    unsigned family;           /* AF_INET, AF_INET6 */
    unsigned bits;             /* prefix length */
};

/* Parses "ADDR" or "ADDR/BITS" into *out: 0, or -1 when it is neither. */
int ipnet_parse(const char *s, struct ipnet *out);

struct cnode {                 /* the fields evaluation reads first come first */
    enum cnode_type type;
    int cost;                  /* AND/OR/NOT: cost class, set by cnode_simplify */
    enum cop op;
    enum field_id field;
    enum vtype vt;             /* type of the field */
    rules_kinds kinds;             /* kinds where the field exists (C_KIND: where the test holds) */
    uint32_t tmask;            /* C_TYPE */
    size_t n;
    struct cnode **kids;       /* AND/OR: n kids; NOT: 1 */
    char *s;                   /* string operand (lower-cased for icontains) */
    size_t slen;
    size_t spos;               /* contains/icontains: index of the needle byte searched first */
    char sfind[3];             /* contains/icontains: that byte (both cases for a letter in icontains) */
    struct strset *set;        /* in/intersects on strings */
    char *arg;                 /* field [arg] */
    int64_t i;
    double d;
    int64_t *ints;             /* in on numbers */
    struct ipnet *nets;        /* VT_NET: the operands (nvals) */
    double *dbls;
    char **prefixes;           /* pmatch */
    size_t *plens;             /* pmatch: prefix lengths */
    size_t nvals;
};

/* FNV-1a of n bytes (eval.c). */
uint64_t rules_hash_bytes(const char *s, size_t n);
struct strset *strset_new(char *const *items, size_t n);
void strset_free(struct strset *s);
bool strset_has(const struct strset *s, const char *str, size_t len);
/* The same for a NUL-terminated str, measuring it while hashing (and giving
 * up as soon as it is longer than every item). */
bool strset_has_cstr(const struct strset *s, const char *str);

bool cnode_eval(const struct cnode *n, struct evctx *c);
/* One comparison (C_CMP): false when the field is absent. */
bool cnode_cmp_eval(const struct cnode *n, struct evctx *c);
void cnode_free(struct cnode *n);
/* Event kinds on which n can be true. */
rules_kinds cnode_kinds(const struct cnode *n);
/* Rewrites n for evaluation on events of kinds only (the kinds it was
 * indexed under): tests decided by the kind become constants, AND/OR drop
 * operands that cannot change the result, and cheaper operands move first.
 * The result on every event of those kinds is unchanged. */
void cnode_simplify(struct cnode *n, rules_kinds kinds);

/* prog.c: a simplified condition as a flat program of leaf tests with
 * jump targets (what the engine runs); same result as cnode_eval on the
 * tree. The program borrows the tree's operands: free it first. */
struct cprog;
int cprog_compile(const struct cnode *n, struct cprog **out);   /* 0 or BW_ENOMEM */
bool cprog_eval(const struct cprog *p, struct evctx *c);
void cprog_free(struct cprog *p);

/* -------------------------------------------------------------- output */

struct outseg {
    char *text;               /* literal, or NULL for a field */
    size_t len;               /* of text */
    enum field_id field;      /* F_NONE: unknown field, renders "<NA>" */
    char *arg;
};

struct output {
    struct outseg *segs;
    size_t n;
};

int output_compile(const char *tmpl, struct output *out);
void output_release(struct output *out);
/* Renders into dst (always NUL-terminated, cut at n-1 bytes). */
void output_render(const struct output *o, struct evctx *c, char *dst, size_t n);

/* --------------------------------------------------------------- rules */

enum rule_type { RT_PLAIN, RT_CPU_SPIKE, RT_FIRST_SEEN, RT_THRESHOLD, RT_CORRELATE, RT_RUNNING_IMAGE };

/* running_image: a finding fires while a container of its image runs */
struct run_params {
    int64_t window_ns;         /* a container runs this long after its latest event (10m) */
    int64_t hold_ns;           /* a finding waits this long for its image to run (7d) */
    size_t max_images;         /* LRU bound of the running table (10,000) */
    size_t max_findings;       /* LRU bound of the held findings (10,000) */
};

struct member {
    int rule;                  /* index of a referenced rule, or -1 */
    struct cnode *cond;        /* inline condition, or NULL */
    struct cprog *prog;        /* cond compiled (borrows it), or NULL */
    rules_kinds kinds;
};

struct gfield {
    enum field_id id;
    char *arg;
};

struct rule {
    char *name;
    char *desc;
    const char *file;          /* owned by the ruleset's file table */
    unsigned line;
    enum rule_type type;
    bool enabled;              /* raises alerts */
    bool evaluate;             /* enabled, or referenced by an enabled correlation */
    bool unsupported;
    char *reason;              /* why it is disabled, or NULL */
    int32_t priority;
    enum field_id priority_from;   /* F_NONE or a field holding a priority name */
    const char *source;        /* "rule", "anomaly", "correlation", "falco" */
    char **tags;
    size_t ntags;
    struct cnode *cond;        /* RT_CORRELATE: NULL */
    struct cprog *prog;        /* cond compiled (borrows it); NULL with cond */
    struct output out;
    struct gfield group[RULES_MAX_GROUP_FIELDS];   /* suppression key */
    size_t ngroup;
    rules_kinds kinds;
    /* anomaly, threshold and correlation parameters */
    struct gfield by;          /* detector key / window group */
    enum field_id value;       /* cpu: the sample; first_seen: the value */
    struct anomaly_cpu_params cpu;
    struct anomaly_firstseen_params fs;
    struct run_params run;     /* running_image */
    uint32_t count;            /* threshold */
    int64_t within_ns;         /* threshold, correlation */
    size_t max_groups;         /* threshold, correlation: LRU bound */
    bool sequence;             /* correlation: in order */
    struct member members[RULES_MAX_MEMBERS];
    size_t nmembers;
};

struct ruleset {
    struct rule *rules;
    size_t n;
    char **files;
    size_t nfiles;
    /* indexes: rule numbers by event kind (evaluated rules that are not
     * correlations), correlations by the kinds of their members */
    uint32_t *by_kind[RULES_KINDS];
    size_t n_by_kind[RULES_KINDS];
    uint32_t *corr_by_kind[RULES_KINDS];
    size_t n_corr_by_kind[RULES_KINDS];
    size_t n_enabled, n_unsupported;
    uint64_t load_work;        /* name probes and nodes compiled while loading */
};

/* compile.c: compiles a condition AST, expanding macros and lists. On a
 * problem that disables the rule, returns BW_EINVAL with a reason; on a
 * syntax error in a macro, BW_ECONFIG with the reason and the macro's
 * location in *file / *line. */
struct macro_def {
    char *name;
    struct anode *ast;         /* NULL until parsed */
    const char *file;
    unsigned line;
    bool expanding;
};

struct list_def {
    char *name;
    char **items;
    size_t n;
};

/* What conditions compile against. Macros are expanded where they are used
 * (each use is compiled, then simplified for the kinds of its rule), so
 * what a file costs is bounded by *budget: the tests and values all its
 * conditions may expand to, shared by the whole load and set from the size
 * of the input. A file that asks for more (macros nested to double at each
 * level, say) is refused instead of taking exponential time and memory. */
struct compile_env {
    struct macro_def *macros;
    struct nameidx *macro_idx;  /* name -> index in macros */
    struct list_def *lists;
    struct nameidx *list_idx;   /* name -> index in lists */
    size_t *budget;             /* tests and values left to expand */
    uint64_t *work;             /* counts compiled nodes and values */
};

/* ... and BW_ETOOBIG (reason set) when the budget runs out: the caller
 * refuses the file. */
int compile_cond(const struct compile_env *env, const struct anode *ast, struct cnode **out,
                 char *reason, size_t rlen);
int32_t priority_parse(const char *s);
void rule_release(struct rule *r);

/* correlate.c: per-rule engine state */
struct rstate;
struct rstate *rstate_new(const struct rule *r);
void rstate_free(struct rstate *s);
/* Whether state made for rule a can keep serving rule b (same name assumed). */
bool rstate_compatible(const struct rule *a, const struct rule *b);
/* Feeds one event to a threshold, anomaly or correlation rule whose
 * condition (or one of whose members) matched. Returns 1 when the rule
 * fires (evidence filled, *n_ev set), 0, or BW_ENOMEM. */
struct rules_evidence;
int rstate_cpu(struct rstate *s, const struct rule *r, struct evctx *c, const char *key);
int rstate_first_seen(struct rstate *s, const struct rule *r, struct evctx *c, const char *key);
int rstate_threshold(struct rstate *s, const struct rule *r, struct evctx *c, const char *key,
                     struct rules_evidence *ev, size_t *n_ev);
int rstate_correlate(struct rstate *s, const struct rule *r, struct evctx *c, const char *key,
                     const bool *matched, struct rules_evidence *ev, size_t *n_ev);
/* running_image: a finding (its fields; the strings NUL-terminated in the
 * state) joined with the running container of its image. */
struct run_match {
    const char *id, *name, *image, *digest;           /* the running container */
    const char *vuln_id, *package, *installed, *fixed, *severity, *title, *scanner, *target;
    double cvss;
    struct rules_evidence ev[2];                     /* the finding, the container's event */
};
typedef void (*run_match_fn)(void *ctx, const struct rule *r, const struct run_match *m);
/* A vuln event that matched rule r: held for r->run.hold_ns; when a
 * container of its image runs, *m is filled and 1 returned. 0, BW_ENOMEM. */
int rstate_running_finding(struct rstate *s, const struct rule *r, struct evctx *c,
                           struct run_match *m);
/* Any other event of a container: the container's image runs now. When the
 * image was not running, calls fn for each held finding of it. 0, BW_ENOMEM. */
int rstate_running_seen(struct rstate *s, const struct rule *r, struct evctx *c, run_match_fn fn,
                        void *ctx);
int rstate_save(const struct rstate *s, struct buf *out);
int rstate_restore(struct rstate *s, const uint8_t *p, size_t n);

#endif
