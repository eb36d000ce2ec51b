#ifndef SWIFT_CNI_CSTARTUP_H
#define SWIFT_CNI_CSTARTUP_H
// Nothing to call: linking this target gives an executable the standard library's command-line
// hooks (startup.c). Executables depend on it; Swift code does not import it.
#endif
