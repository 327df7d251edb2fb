/*
 * The native client of the command server (docs/daemon.md), as chg is to Mercurial: `bin/gitswarm`
 * runs it when the build made it (scripts/build-native.mjs, with the system's C compiler). A Node
 * process costs 25-80 ms before its first line of code on the machines we measure; this client
 * starts in about a millisecond, so a command the server runs costs what its work costs.
 *
 * It speaks the protocol of protocol.ts exactly as the Node client (client.ts) does, for a command
 * the server takes. In every other case (no server, a refusal, no answer within READY_TIMEOUT_MS,
 * a command that runs in-process) it runs `node bin/gitswarm.js` with the same arguments, which
 * decides again and runs the command in-process: the Node client stays the one home of those rules.
 * What this file must agree on with it: inProcessReason, findGitswarmDir, the build identity
 * (bin/gitswarm.js) and processFingerprint. test/cli/native-client.test.ts holds them together.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define READY_TIMEOUT_MS 500
#define SOCKET_NAME "daemon.sock"

extern char **environ;

static char root[PATH_MAX];
static int main_argc;
static char **main_argv;

/* What the relaying phase changes of the signals, put back before Node runs instead. */
static int signals_changed = 0;
static struct sigaction original_sigpipe;
static sigset_t original_mask;

/* ---- running the command with Node instead ------------------------------------------------ */

/* Runs bin/gitswarm.js with Node, as `#!/usr/bin/env node` would; never returns. */
static void run_with_node(const char *why) {
  const char *debug = getenv("GITSWARM_DAEMON_DEBUG");
  if (debug && *debug) fprintf(stderr, "gitswarm: native client: %s\n", why);
  char entry[PATH_MAX + 32];
  snprintf(entry, sizeof entry, "%s/bin/gitswarm.js", root);
  char **args = calloc((size_t)main_argc + 2, sizeof *args);
  if (!args) _exit(127);
  args[0] = "node";
  args[1] = entry;
  for (int i = 1; i < main_argc; i++) args[i + 1] = main_argv[i];
  if (signals_changed) {
    sigaction(SIGPIPE, &original_sigpipe, NULL);
    sigprocmask(SIG_SETMASK, &original_mask, NULL);
  }
  execvp("node", args);
  fprintf(stderr, "error: gitswarm could not run node: %s\n", strerror(errno));
  _exit(127);
}

/* ---- growing byte buffers and JSON text --------------------------------------------------- */

typedef struct {
  char *data;
  size_t len, cap;
} buf_t;

static void buf_add(buf_t *b, const char *data, size_t len) {
  if (b->len + len + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (b->len + len + 1 > cap) cap *= 2;
    char *grown = realloc(b->data, cap);
    if (!grown) run_with_node("out of memory");
    b->data = grown;
    b->cap = cap;
  }
  memcpy(b->data + b->len, data, len);
  b->len += len;
  b->data[b->len] = '\0';
}

static void buf_str(buf_t *b, const char *s) { buf_add(b, s, strlen(s)); }

/* `s` as a JSON string, escaped as JSON.stringify escapes it (the fingerprint is compared as text). */
static void buf_json(buf_t *b, const char *s) {
  buf_add(b, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    char esc[8];
    switch (*p) {
      case '"': buf_add(b, "\\\"", 2); break;
      case '\\': buf_add(b, "\\\\", 2); break;
      case '\b': buf_add(b, "\\b", 2); break;
      case '\f': buf_add(b, "\\f", 2); break;
      case '\n': buf_add(b, "\\n", 2); break;
      case '\r': buf_add(b, "\\r", 2); break;
      case '\t': buf_add(b, "\\t", 2); break;
      default:
        if (*p < 0x20) {
          snprintf(esc, sizeof esc, "\\u%04x", *p);
          buf_add(b, esc, 6);
        } else {
          buf_add(b, (const char *)p, 1);
        }
    }
  }
  buf_add(b, "\"", 1);
}

static void buf_json_or_null(buf_t *b, const char *s) {
  if (s) buf_json(b, s);
  else buf_str(b, "null");
}

static void put_utf8(buf_t *b, unsigned cp) {
  char out[4];
  size_t n;
  if (cp < 0x80) {
    out[0] = (char)cp;
    n = 1;
  } else if (cp < 0x800) {
    out[0] = (char)(0xc0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3f));
    n = 2;
  } else if (cp < 0x10000) {
    out[0] = (char)(0xe0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[2] = (char)(0x80 | (cp & 0x3f));
    n = 3;
  } else {
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    n = 4;
  }
  buf_add(b, out, n);
}

static int hex4(const char *p, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return 0;
  }
  *out = v;
  return 1;
}

/*
 * Decodes the JSON string starting at `p` (its opening quote) into `out` as UTF-8, as Node's
 * Buffer.from would encode the decoded text (a lone surrogate becomes U+FFFD). Returns the position
 * after the closing quote, or NULL when it is not a well-formed string.
 */
static const char *json_string(const char *p, buf_t *out) {
  if (*p++ != '"') return NULL;
  out->len = 0;
  buf_add(out, "", 0);
  for (;;) {
    const char *run = p;
    while (*p && *p != '"' && *p != '\\') p++;
    buf_add(out, run, (size_t)(p - run));
    if (*p == '"') return p + 1;
    if (*p != '\\') return NULL;
    p++;
    unsigned cp;
    switch (*p) {
      case '"': buf_add(out, "\"", 1); break;
      case '\\': buf_add(out, "\\", 1); break;
      case '/': buf_add(out, "/", 1); break;
      case 'b': buf_add(out, "\b", 1); break;
      case 'f': buf_add(out, "\f", 1); break;
      case 'n': buf_add(out, "\n", 1); break;
      case 'r': buf_add(out, "\r", 1); break;
      case 't': buf_add(out, "\t", 1); break;
      case 'u':
        if (!hex4(p + 1, &cp)) return NULL;
        p += 4;
        if (cp >= 0xd800 && cp <= 0xdbff) {
          unsigned low;
          if (p[1] == '\\' && p[2] == 'u' && hex4(p + 3, &low) && low >= 0xdc00 && low <= 0xdfff) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
            p += 6;
          } else {
            cp = 0xfffd;
          }
        } else if (cp >= 0xdc00 && cp <= 0xdfff) {
          cp = 0xfffd;
        }
        put_utf8(out, cp);
        break;
      default: return NULL;
    }
    p++;
  }
}

/* ---- the connection ----------------------------------------------------------------------- */

static int sock = -1;

/*
 * Ctrl-C while the server runs the command: SIGINT is blocked but while the client waits for the
 * server (ppoll lets it in atomically, so none is missed between a check and the wait).
 */
static volatile sig_atomic_t interrupts = 0;
static int abort_sent = 0;
static int sigint_blocked = 0;
static sigset_t waiting_mask;

static void on_sigint(int signal) {
  (void)signal;
  interrupts++;
}

/* Writes all of `data` to `fd`, waiting where the descriptor is non-blocking; 0 when it failed. */
static int write_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n > 0) {
      data += n;
      len -= (size_t)n;
    } else if (n < 0 && errno == EAGAIN) {
      struct pollfd out = {.fd = fd, .events = POLLOUT};
      poll(&out, 1, -1);
    } else if (n < 0 && errno != EINTR) {
      return 0;
    }
  }
  return 1;
}

/* Sends a line to the server; a server gone before "ready" means the command runs with Node. */
static void send_line(buf_t *line) {
  buf_add(line, "\n", 1);
  const char *data = line->data;
  size_t len = line->len;
  while (len > 0) {
    /* MSG_NOSIGNAL: until "ready" SIGPIPE keeps the disposition Node would inherit. */
    ssize_t n = send(sock, data, len, MSG_NOSIGNAL);
    if (n > 0) {
      data += n;
      len -= (size_t)n;
    } else if (n < 0 && errno != EINTR) {
      run_with_node("cannot write to the server");
    }
  }
}

/*
 * Reads the server's next line into `line` (without its newline): 1 when one came, 0 at the end
 * of the connection, -1 when `deadline_ms` (CLOCK_MONOTONIC, or -1 for none) passed first.
 */
static buf_t pending;

static long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

static int read_line(buf_t *line, long deadline_ms) {
  for (;;) {
    char *newline = pending.len ? memchr(pending.data, '\n', pending.len) : NULL;
    if (newline) {
      size_t n = (size_t)(newline - pending.data);
      line->len = 0;
      buf_add(line, pending.data, n);
      memmove(pending.data, newline + 1, pending.len - n - 1);
      pending.len -= n + 1;
      return 1;
    }
    int timeout = -1;
    if (deadline_ms >= 0) {
      long left = deadline_ms - now_ms();
      if (left <= 0) return -1;
      timeout = (int)left;
    }
    struct pollfd in = {.fd = sock, .events = POLLIN};
    struct timespec wait = {.tv_sec = timeout / 1000, .tv_nsec = (timeout % 1000) * 1000000L};
    int ready = ppoll(&in, 1, timeout < 0 ? NULL : &wait, sigint_blocked ? &waiting_mask : NULL);
    if (ready < 0 && errno == EINTR) {
      /* The first Ctrl-C aborts the command in the server; a second leaves at once, as Node's. */
      if (interrupts > 1) _exit(130);
      if (interrupts == 1 && !abort_sent) {
        static const char abort_frame[] = "{\"t\":\"abort\"}\n";
        write_all(sock, abort_frame, sizeof abort_frame - 1);
        abort_sent = 1;
      }
      continue;
    }
    if (ready == 0) return -1;
    char chunk[65536];
    ssize_t n = read(sock, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;
    buf_add(&pending, chunk, (size_t)n);
  }
}

/* The frame's type: what follows `{"t":"` up to its quote, copied into `type` (empty when none). */
static const char *frame_type(const char *line, char *type, size_t size) {
  type[0] = '\0';
  if (strncmp(line, "{\"t\":\"", 6) != 0) return NULL;
  const char *start = line + 6;
  const char *end = strchr(start, '"');
  if (!end || (size_t)(end - start) >= size) return NULL;
  memcpy(type, start, (size_t)(end - start));
  type[end - start] = '\0';
  return end + 1;
}

/* ---- what the Node client decides before connecting ---------------------------------------- */

/* inProcessReason of client.ts: why the command runs in-process, or NULL. */
static const char *in_process_reason(void) {
  const char *off = getenv("GITSWARM_NO_DAEMON");
  if (off && *off && strcmp(off, "0") != 0) return "GITSWARM_NO_DAEMON";
  const char *failpoints = getenv("GITSWARM_FAILPOINTS");
  if (failpoints && *failpoints) return "failpoints";
  const char *location[] = {"GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_CEILING_DIRECTORIES"};
  for (size_t i = 0; i < sizeof location / sizeof *location; i++) {
    if (getenv(location[i])) return "git location set";
  }
  /* commandNoun of argv.ts: the first word that is not an option or a global option's value. */
  const char *noun = NULL;
  for (int i = 1; i < main_argc && !noun; i++) {
    const char *word = main_argv[i];
    if (!strcmp(word, "--as") || !strcmp(word, "--server") || !strcmp(word, "--api-key")) i++;
    else if (word[0] != '-') noun = word;
  }
  if (!noun) return "no command";
  if (!strcmp(noun, "serve") || !strcmp(noun, "mcp") || !strcmp(noun, "daemon")) return "runs in-process";
  return NULL;
}

/* findGitswarmDir of client.ts: the main repository's .gitswarm directory around `cwd`. */
static int find_gitswarm_dir(const char *cwd, char *out, size_t size) {
  char dir[PATH_MAX];
  if (snprintf(dir, sizeof dir, "%s", cwd) >= (int)sizeof dir) return 0;
  for (;;) {
    char dot_git[PATH_MAX + 8];
    snprintf(dot_git, sizeof dot_git, "%s/.git", strcmp(dir, "/") ? dir : "");
    struct stat st;
    if (lstat(dot_git, &st) == 0) {
      if (S_ISDIR(st.st_mode)) return snprintf(out, size, "%s/.gitswarm", strcmp(dir, "/") ? dir : "") < (int)size;
      /* A linked worktree's .git file: "gitdir: <main>/.git/worktrees/<name>". */
      FILE *file = fopen(dot_git, "r");
      if (!file) return 0;
      char text[PATH_MAX + 64];
      size_t n = fread(text, 1, sizeof text - 1, file);
      fclose(file);
      text[n] = '\0';
      while (n > 0 && strchr(" \t\r\n\f\v", text[n - 1])) text[--n] = '\0';
      if (strncmp(text, "gitdir: ", 8) != 0 || strchr(text, '\n')) return 0;
      const char *marker = "/.git/worktrees/";
      char *last = NULL;
      for (char *at = strstr(text + 8, marker); at; at = strstr(at + 1, marker)) last = at;
      if (!last) return 0;
      const char *name = last + strlen(marker);
      if (!*name || strchr(name, '/')) return 0;
      *last = '\0';
      return snprintf(out, size, "%s/.gitswarm", text + 8) < (int)size;
    }
    if (!strcmp(dir, "/")) return 0;
    char *slash = strrchr(dir, '/');
    if (!slash) return 0;
    if (slash == dir) slash[1] = '\0';
    else *slash = '\0';
  }
}

/* The installed build, as bin/gitswarm.js names it: `<entry>@<mtime in ns>`. */
static int build_identity(buf_t *out) {
  char compiled[PATH_MAX + 64], bundled[PATH_MAX + 64];
  snprintf(compiled, sizeof compiled, "%s/dist/src/cli/main.js", root);
  snprintf(bundled, sizeof bundled, "%s/dist/bundle/gitswarm.mjs", root);
  struct stat st;
  if (stat(compiled, &st) != 0) return 0;
  const char *entry = compiled;
  long long mtime = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
  const char *no_bundle = getenv("GITSWARM_NO_BUNDLE");
  if (!(no_bundle && *no_bundle) && stat(bundled, &st) == 0) {
    long long bundle_mtime = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    if (bundle_mtime >= mtime) {
      entry = bundled;
      mtime = bundle_mtime;
    }
  }
  char stamp[32];
  snprintf(stamp, sizeof stamp, "@%lld", mtime);
  buf_str(out, entry);
  buf_str(out, stamp);
  return 1;
}

/* processFingerprint of protocol.ts, as JSON.stringify writes it. */
static void fingerprint(buf_t *out) {
  mode_t mask = umask(0);
  umask(mask);
  char numbers[64];
  snprintf(numbers, sizeof numbers, "[%u,%u", (unsigned)getuid(), (unsigned)mask);
  buf_str(out, numbers);
  const char *names[] = {"TZ", "TMPDIR", "LANG", "LC_ALL", "NODE_OPTIONS", "GITSWARM_NO_BUNDLE"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    buf_str(out, ",");
    buf_json_or_null(out, getenv(names[i]));
  }
  buf_str(out, "]");
}

/* ---- main ---------------------------------------------------------------------------------- */

/*
 * This program is <root>/dist/native/gitswarm. bin/gitswarm starts it by that path from bin/'s
 * real directory, so <root> is that path's, resolved: the root Node's client names the build by
 * (it follows links to bin/, never dist/ itself, which may be a link into another tree). Started
 * by another path, the root is three levels above the program's real file (/proc/self/exe; with
 * no /proc, the path it was started by, resolved).
 */
static int find_root(void) {
  static const char suffix[] = "/dist/native/gitswarm";
  const size_t suffix_len = sizeof suffix - 1;
  size_t given = strlen(main_argv[0]);
  if (given > suffix_len && given - suffix_len < sizeof root &&
      strcmp(main_argv[0] + given - suffix_len, suffix) == 0) {
    char installation[PATH_MAX];
    memcpy(installation, main_argv[0], given - suffix_len);
    installation[given - suffix_len] = '\0';
    if (realpath(installation, root)) return 1;
  }
  ssize_t n = readlink("/proc/self/exe", root, sizeof root - 1);
  if (n > 0) {
    root[n] = '\0';
  } else if (!strchr(main_argv[0], '/') || !realpath(main_argv[0], root)) {
    return 0;
  }
  for (int up = 0; up < 3; up++) {
    char *slash = strrchr(root, '/');
    if (!slash || slash == root) return 0;
    *slash = '\0';
  }
  return 1;
}

int main(int argc, char **argv) {
  main_argc = argc;
  main_argv = argv;
  if (!find_root()) {
    fprintf(stderr, "error: gitswarm: cannot find its installation; run it as bin/gitswarm\n");
    return 127;
  }
  const char *reason = in_process_reason();
  if (reason) run_with_node(reason);

  char cwd[PATH_MAX], gitswarm_dir[PATH_MAX], socket_path[PATH_MAX + 16];
  if (!getcwd(cwd, sizeof cwd)) run_with_node("no working directory");
  if (!find_gitswarm_dir(cwd, gitswarm_dir, sizeof gitswarm_dir)) run_with_node("not in a git repository");
  snprintf(socket_path, sizeof socket_path, "%s/%s", gitswarm_dir, SOCKET_NAME);
  struct sockaddr_un address = {.sun_family = AF_UNIX};
  if (strlen(socket_path) >= sizeof address.sun_path) run_with_node("socket path too long");
  struct stat st;
  if (lstat(socket_path, &st) != 0) run_with_node("no server");
  if (!S_ISSOCK(st.st_mode)) run_with_node("not a socket");
  if (st.st_uid != getuid()) run_with_node("socket owned by another user");

  buf_t line = {0};
  buf_t value = {0};
  buf_str(&line, "{\"t\":\"hello\",\"build\":");
  buf_t build = {0};
  if (!build_identity(&build)) run_with_node("no build");
  buf_json(&line, build.data);
  buf_str(&line, ",\"fingerprint\":");
  buf_t print = {0};
  fingerprint(&print);
  buf_json(&line, print.data);
  buf_str(&line, "}");

  strcpy(address.sun_path, socket_path);
  sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0 || connect(sock, (struct sockaddr *)&address, sizeof address) != 0) {
    run_with_node("cannot connect");
  }
  send_line(&line);

  /* hello → ready; anything else before it, and the command runs in-process. */
  char type[16];
  int got = read_line(&line, now_ms() + READY_TIMEOUT_MS);
  if (got != 1 || !frame_type(line.data, type, sizeof type) || strcmp(type, "ready") != 0) {
    close(sock);
    run_with_node(got == -1 ? "no answer in time" : "server refused");
  }

  line.len = 0;
  buf_str(&line, "{\"t\":\"run\",\"argv\":[");
  for (int i = 1; i < argc; i++) {
    if (i > 1) buf_str(&line, ",");
    buf_json(&line, argv[i]);
  }
  buf_str(&line, "],\"cwd\":");
  buf_json(&line, cwd);
  buf_str(&line, ",\"env\":{");
  int first = 1;
  for (char **entry = environ; *entry; entry++) {
    const char *equals = strchr(*entry, '=');
    if (!equals || equals == *entry) continue;
    value.len = 0;
    buf_add(&value, *entry, (size_t)(equals - *entry));
    if (!first) buf_str(&line, ",");
    first = 0;
    buf_json(&line, value.data);
    buf_str(&line, ":");
    buf_json(&line, equals + 1);
  }
  buf_str(&line, isatty(1) ? "},\"isTTY\":true}" : "},\"isTTY\":false}");

  /* From here on the command is the server's: a reader that leaves is EPIPE, not a signal, and
     Ctrl-C aborts the command in the server (read_line sends the frame). */
  struct sigaction ignore = {.sa_handler = SIG_IGN};
  sigemptyset(&ignore.sa_mask);
  sigaction(SIGPIPE, &ignore, &original_sigpipe);
  sigset_t sigint;
  sigemptyset(&sigint);
  sigaddset(&sigint, SIGINT);
  sigprocmask(SIG_BLOCK, &sigint, &original_mask); /* before the handler: a Ctrl-C now waits */
  struct sigaction interrupt = {.sa_handler = on_sigint};
  sigemptyset(&interrupt.sa_mask);
  sigaction(SIGINT, &interrupt, NULL);
  waiting_mask = original_mask;
  sigdelset(&waiting_mask, SIGINT);
  sigint_blocked = 1;
  signals_changed = 1;
  send_line(&line);

  int stdout_open = 1, stderr_open = 1;
  for (;;) {
    got = read_line(&line, -1);
    if (got != 1) {
      const char *gone =
          "error: the command server stopped while running this command (GITSWARM_NO_DAEMON=1 runs "
          "commands in-process)\n";
      write_all(2, gone, strlen(gone));
      return 1;
    }
    const char *rest = frame_type(line.data, type, sizeof type);
    if (!rest) continue;
    int is_out = !strcmp(type, "out");
    if (is_out || !strcmp(type, "err")) {
      if (strncmp(rest, ",\"d\":", 5) != 0 || !json_string(rest + 5, &value)) continue;
      /* `gitswarm activity | head`: a reader that left ends that output quietly (EPIPE). */
      int *open = is_out ? &stdout_open : &stderr_open;
      if (*open && !write_all(is_out ? 1 : 2, value.data, value.len)) *open = 0;
    } else if (!strcmp(type, "exit")) {
      if (strncmp(rest, ",\"code\":", 8) != 0) continue;
      return atoi(rest + 8) & 0xff;
    }
  }
}
