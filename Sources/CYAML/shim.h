// libyaml (Debian's libyaml-dev): the YAML parser Yams wraps, read here without Foundation.
#include <yaml.h>
