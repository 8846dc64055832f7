/* Writing JSON by hand, safely: strings are escaped here and nowhere else. */
#pragma once

#include <stdio.h>

/* Writes `s` as a JSON string literal, quotes included. */
void lb_json_string(FILE *f, const char *s);
