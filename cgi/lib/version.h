/* This build's version, set by the Makefile from the VERSION file. */
#pragma once

#ifndef LB_VERSION
#error "LB_VERSION must be defined by the build"
#endif
