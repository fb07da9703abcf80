#ifndef FRIDAY_NCURSES_SHIM_H
#define FRIDAY_NCURSES_SHIM_H
// NCURSES_WIDECHAR must be set here, before the include: a cSettings define does not
// reach Swift's import of the header.
#define NCURSES_WIDECHAR 1
#define _XOPEN_SOURCE_EXTENDED 1
#include <locale.h>
#include <wchar.h>
#include <ncursesw/curses.h>

// Swift cannot see macros, and rejects stdscr/LINES as not concurrency-safe.
static inline WINDOW *shim_stdscr(void) { return stdscr; }
static inline int shim_maxy(WINDOW *w) { return getmaxy(w); }
static inline int shim_maxx(WINDOW *w) { return getmaxx(w); }
static inline int shim_key_resize(void) { return KEY_RESIZE; }
static inline int shim_colors(void) { return COLORS; }
static inline int shim_color_pairs(void) { return COLOR_PAIRS; }
static inline attr_t shim_a_bold(void) { return A_BOLD; }
static inline attr_t shim_a_dim(void) { return A_DIM; }
static inline attr_t shim_a_reverse(void) { return A_REVERSE; }
static inline attr_t shim_a_underline(void) { return A_UNDERLINE; }
static inline attr_t shim_a_normal(void) { return A_NORMAL; }
#endif

#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <langinfo.h>

// A crash (a Swift trap is SIGILL or SIGTRAP) must not leave the terminal broken:
// give it back with endwin, then let the signal do what it would have done.
static void shim_crash_handler(int sig) {
    endwin();
    const char reset[] = "\033[0m\033[?25h\033[?1049l\r\nfriday: internal error (signal) - the terminal was restored.\r\n";
    (void)!write(2, reset, sizeof(reset) - 1);
    signal(sig, SIG_DFL);
    raise(sig);
}

static inline void shim_install_crash_handlers(void) {
    int sigs[] = { SIGSEGV, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE };
    for (unsigned i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) signal(sigs[i], shim_crash_handler);
}

#include <ncursesw/term.h>
/// Whether the terminal has an alternate screen (smcup): without one the last frame would
/// stay on screen after friday ends.
static inline int shim_has_alt_screen(void) {
    char *s = tigetstr("smcup");
    return s != NULL && s != (char *)-1 && s[0] != 0;
}

/// The C library's column width of a code point (-1: not printable), as ncurses uses it.
int wcwidth(wchar_t c);
static inline int shim_wcwidth(unsigned int c) { return wcwidth((wchar_t)c); }

static inline int shim_is_utf8_locale(void) {
    const char *cs = nl_langinfo(CODESET);
    return cs != NULL && (strcmp(cs, "UTF-8") == 0 || strcmp(cs, "utf8") == 0);
}

/// Waits until fd0 or fd1 is readable or timeout_ms passes. Returns a bitmask: 1 = fd0, 2 = fd1.
static inline int shim_wait2(int fd0, int fd1, int timeout_ms) {
    struct pollfd p[2] = { { fd0, POLLIN, 0 }, { fd1, POLLIN, 0 } };
    int r = poll(p, 2, timeout_ms);
    if (r <= 0) return 0;
    return ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) ? 1 : 0) | ((p[1].revents & POLLIN) ? 2 : 0);
}

/// Writes a control string to the terminal through ncurses' own stdout, flushed.
static inline void shim_write_stdout(const char *s) { fputs(s, stdout); fflush(stdout); }

/// initscr() exits the process when the terminal is unusable; newterm() reports it.
static inline int shim_start(void) {
    SCREEN *s = newterm(NULL, stdout, stdin);
    if (s == NULL) return 0;
    set_term(s);
    return 1;
}
