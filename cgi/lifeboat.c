/* lifeboat: the device's command-line tool. A verb table over the core library. */
#include "lib/config.h"
#include "lib/install.h"
#include "lib/macro.h"
#include "lib/version.h"
#include "tool-output.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char *program = "lifeboat";

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", program);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry '%s --help'.\n", program);
	return LB_E_USAGE;
}

static int verb_install(int argc, char **argv)
{
	static const struct option options[] = {
		{"config", required_argument, NULL, 'c'},   {"keyring", required_argument, NULL, 'k'},
		{"compatible", required_argument, NULL, 'C'}, {"target", required_argument, NULL, 't'},
		{"no-readback", no_argument, NULL, 'R'},     {"allow-unsigned", no_argument, NULL, 'U'},
		{"threads", required_argument, NULL, 'j'},   {"json", no_argument, NULL, 'J'},
		{"help", no_argument, NULL, 'h'},            {0},
	};
	const char *config_path = LB_CONFIG_DEFAULT_PATH;
	bool config_optional = true, json = false, no_readback = false, allow_unsigned = false;
	const char *keyring = NULL, *compatible = NULL;
	const char *target_args[LB_IMAGES_MAX];
	unsigned target_arg_count = 0, threads = 0;
	struct lb_error err = {0};
	int c;

	while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
		switch (c) {
		case 'c':
			config_path = optarg;
			config_optional = false;
			break;
		case 'k':
			keyring = optarg;
			break;
		case 'C':
			compatible = optarg;
			break;
		case 't':
			if (target_arg_count == LB_IMAGES_MAX)
				return usage_error("too many --target options%s", "");
			target_args[target_arg_count++] = optarg;
			break;
		case 'R':
			no_readback = true;
			break;
		case 'U':
			allow_unsigned = true;
			break;
		case 'j':
			threads = (unsigned)atoi(optarg);
			break;
		case 'J':
			json = true;
			break;
		case 'h':
			printf("Usage: %s install [OPTIONS] BUNDLE|-\n\n"
			       "Verifies a bundle and writes its images onto their targets as it streams in.\n\n"
			       "  --config FILE          configuration (default %s)\n"
			       "  --keyring DIR|FILE     trusted public keys\n"
			       "  --compatible STR       this device's board string\n"
			       "  --target ROLE=DEVICE   where the image of ROLE goes (repeatable)\n"
			       "  --no-readback          skip reading the written images back\n"
			       "  --allow-unsigned       accept unsigned bundles (development only)\n"
			       "  --threads N            worker threads (default: one per CPU)\n"
			       "  --json                 progress and result as JSON lines on stdout\n",
			       program, LB_CONFIG_DEFAULT_PATH);
			return 0;
		default:
			return LB_E_USAGE;
		}
	}
	if (optind != argc - 1)
		return usage_error("install takes one BUNDLE (or - for standard input)%s", "");
	const char *bundle_path = argv[optind];

	struct lb_config cfg;
	lb_config_defaults(&cfg);
	if (lb_config_load(&cfg, config_path, config_optional, &err) < 0)
		return tool_fail(program, &err, json, NULL);
	for (unsigned i = 0; i < target_arg_count; i++)
		if (lb_config_set_target(&cfg, target_args[i], &err) < 0)
			return tool_fail(program, &err, json, NULL);
	if (keyring)
		snprintf(cfg.keyring, sizeof(cfg.keyring), "%s", keyring);
	if (compatible)
		snprintf(cfg.compatible, sizeof(cfg.compatible), "%s", compatible);
	if (no_readback)
		cfg.readback = false;
	if (allow_unsigned)
		cfg.allow_unsigned = true;

	/* A missing keyring is only fatal once a signed bundle needs it; the installer says so. */
	struct lb_keyring *keys = NULL;
	struct lb_error key_err = {0};
	if (lb_keyring_load(cfg.keyring, &keys, &key_err) < 0 && !cfg.allow_unsigned && access(cfg.keyring, F_OK) == 0)
		return tool_fail(program, &key_err, json, "untouched");

	struct lb_target_spec specs[LB_IMAGES_MAX];
	for (unsigned i = 0; i < cfg.target_count; i++)
		specs[i] = (struct lb_target_spec){.role = cfg.target_role[i], .path = cfg.target_path[i]};

	_cleanup_close_ int fd = strcmp(bundle_path, "-") == 0 ? dup(STDIN_FILENO)
							       : open(bundle_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		lb_error_set(&err, errno, LB_E_IO, "cannot open %s: %s", bundle_path, strerror(errno));
		lb_keyring_free(keys);
		return tool_fail(program, &err, json, "untouched");
	}
	struct lb_input in;
	lb_input_init_fd(&in, &fd);

	struct tool_progress tp;
	tool_progress_init(&tp, json);
	struct lb_install_options opt = {
		.keyring = keys,
		.allow_unsigned = cfg.allow_unsigned,
		.compatible = cfg.compatible[0] ? cfg.compatible : NULL,
		.targets = specs,
		.target_count = cfg.target_count,
		.readback = cfg.readback,
		.threads = threads,
		.progress = tool_progress_update,
		.userdata = &tp,
	};
	struct lb_install_result res;
	int r = lb_install(&in, &opt, &res, &err);
	tool_progress_finish(&tp);
	lb_keyring_free(keys);
	if (r < 0)
		return tool_fail(program, &err, json, res.target_touched ? "invalid" : "untouched");

	double seconds = tool_now() - tp.start;
	if (json)
		printf("{\"event\":\"result\",\"result\":\"installed\",\"version\":\"%s\",\"compatible\":\"%s\","
		       "\"image_bytes\":%llu,\"bundle_size\":%llu,\"readback\":%s,\"seconds\":%.3f}\n",
		       res.version, res.compatible, (unsigned long long)res.image_bytes,
		       (unsigned long long)res.bundle_size, cfg.readback ? "true" : "false", seconds);
	else
		printf("installed version %s (%s): %.1f MiB written and %s in %.1f s (%.0f MB/s)\n", res.version,
		       res.compatible, (double)res.image_bytes / 1048576.0,
		       cfg.readback ? "read back" : "verified (read-back skipped)", seconds,
		       (double)res.image_bytes / seconds / 1e6);
	return 0;
}

static int verb_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("%s\n", LB_VERSION);
	return 0;
}

static const struct verb {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
} verbs[] = {
	{"install", verb_install, "verify a bundle and write it onto its targets"},
	{"version", verb_version, "print this program's version"},
};

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		printf("Usage: %s VERB [OPTIONS]\n\n", program);
		for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
			printf("  %-10s %s\n", verbs[i].name, verbs[i].help);
		printf("\n'%s VERB --help' tells more.\n", program);
		return argc < 2 ? LB_E_USAGE : 0;
	}
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		if (!strcmp(argv[1], verbs[i].name))
			return verbs[i].run(argc - 1, argv + 1);
	return usage_error("unknown verb '%s'", argv[1]);
}
