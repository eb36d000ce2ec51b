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
#include <features.h>   // defines __GLIBC__ under glibc

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

// First among the constructors (101 is the earliest a program may use), before any code that
// could ask for the arguments.
__attribute__((constructor(101), used))
static void startup_keep_arguments(int argc, char **argv, char **envp) {
    (void)envp;
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
