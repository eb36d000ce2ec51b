// The standard library's command-line hooks, and the runtime's search for its backtracer (below),
// for our executables.
//
// On Linux, Swift's runtime finds argv with a static initializer (CommandLine.cpp's ArgvGrabber)
// that opens /proc/self/maps and sscanf's every line to find the stack, then walks back from
// `environ` — in every process, before main, whether or not the program reads its arguments:
// five syscalls, the kernel printing the map, and glibc's scanf pulled into the start-up path of
// a plugin a runtime execs per pod. glibc hands argc and argv to every init_array function; kept
// here, the two functions the standard library asks for (CommandLine.arguments and the override
// test harnesses use) are answered from them, and the linker never loads that object from the
// static runtime archive. Hidden: in a dynamic build (debug, tests) the runtime library keeps its
// own and nothing outside the executable sees these.
#include <stddef.h>
#include <stdint.h>
#include <features.h>   // defines __GLIBC__ under glibc
#include <sys/mman.h>
#include <unistd.h>

#ifndef __GLIBC__
// musl calls init_array functions without arguments: the constructor below would read garbage.
#error "CStartup takes argv from glibc's constructor arguments"
#endif

// Zero-initialised, with the runtime's own variables (hot-symbols.txt): no page of their own.
static char *startup_empty_argv[] = { NULL };
static char **startup_argv;
static int startup_argc;
static char **override_argv = NULL;
static int override_argc = 0;

// Markers around the zero-initialised data the plugins write. hot-symbols.txt names the small
// .bss (and .data) sections the plugins' runs wrote (the per-pod path's, then swift-cni-full's
// client path's), in the order they first touched them, .bss's between these two (each in a
// section of its own: -fdata-sections), so a release link gathers them into a few pages at the
// start of .bss (5 in swift-cni, 21 in swift-cni-full). A process writes to most of those pages;
// left to faults, a page often costs two: a read maps the shared zero page, the write that
// follows copies it. One madvise(MADV_POPULATE_WRITE) gives them all their own zeroed pages at
// once: an etcd ADD took 27 fewer faults (.bss 63 -> 36). A VERSION gains nothing: in this range
// it writes only what glibc's start-up wrote before this constructor, and its other .bss faults
// are in the standard library's one 86 KiB .bss and the runtime's allocation pool, which stay
// where they are. (.data is gathered too, but not populated: its pages come from the file, and
// populating them costs reads and private copies of pages a run may never write.) Without the
// list's order (a debug build, a stale list) the markers lie side by side, and one page is
// populated, or further apart than the bound, and nothing is.
static char startup_hot_bss_begin, startup_hot_bss_end;

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23   // Linux 5.14; an older kernel answers EINVAL and faults as before
#endif

static void startup_populate(const char *begin, const char *end) {
    uintptr_t page = (uintptr_t)getpagesize();
    uintptr_t from = (uintptr_t)begin & ~(page - 1), to = ((uintptr_t)end + page - 1) & ~(page - 1);
    if (to > from && to - from <= 64 * page) {
        (void)madvise((void *)from, to - from, MADV_POPULATE_WRITE);
    }
}

// First among the constructors (101 is the earliest a program may use), before any code that
// could ask for the arguments.
__attribute__((constructor(101), used))
static void startup_keep_arguments(int argc, char **argv, char **envp) {
    (void)envp;
    startup_populate(&startup_hot_bss_begin, &startup_hot_bss_end);
    if (argv != NULL && argc >= 0) {
        startup_argv = argv;
        startup_argc = argc;
    }
}

// Swift's calling convention, as the runtime defines them (SWIFT_CC(swift); for these
// signatures the same registers as C's on x86-64 and arm64).
__attribute__((swiftcall, visibility("hidden")))
char **_swift_stdlib_getUnsafeArgvArgc(int *outArgLen) {
    if (override_argv != NULL) {
        *outArgLen = override_argc;
        return override_argv;
    }
    if (startup_argv == NULL) {
        *outArgLen = 0;
        return startup_empty_argv;
    }
    *outArgLen = startup_argc;
    return startup_argv;
}

__attribute__((swiftcall, visibility("hidden")))
void _swift_stdlib_overrideUnsafeArgvArgc(char **argv, int argc) {
    override_argv = argv;
    override_argc = argc;
}

// The Swift runtime's crash backtracer looks for its helper executable, swift-backtrace, in a
// static initializer (Backtrace.cpp), whether or not the process ever crashes: it reads
// /proc/self/exe and stats nine paths around the executable (libexec/swift/linux, ../x86_64, …),
// ten syscalls in every plugin process. We ship no swift-backtrace, so the search fails and the
// runtime turns backtracing off. Answering here as the runtime itself does when built without a
// file system (Paths.cpp) keeps that outcome and skips the search; in a static link the
// runtime's Paths object is then never loaded (nothing else uses it). What no longer works: a
// swift-backtrace dropped beside the plugins, or found through SWIFT_ROOT; someone who wants a
// crash backtrace from a plugin names the helper: SWIFT_BACKTRACE=enable=yes,swift-backtrace=PATH.
// Hidden, like the functions above: in a dynamic build (debug, tests) the runtime library keeps
// its own, which still searches.
__attribute__((visibility("hidden")))
char *swift_copyAuxiliaryExecutablePath(const char *name) {
    (void)name;
    return NULL;
}
