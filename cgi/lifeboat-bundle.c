/* lifeboat-bundle: the host tool that makes, inspects and checks bundles. */
#include "lib/bundle.h"
#include "lib/create.h"
#include "lib/install.h"
#include "lib/json.h"
#include "lib/macro.h"
#include "lib/version.h"
#include "tool-output.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *program = "lifeboat-bundle";

static int usage_error(const char *what)
{
	fprintf(stderr, "%s: %s\nTry '%s --help'.\n", program, what, program);
	return LB_E_USAGE;
}

static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	return false;
}

static int verb_keygen(int argc, char **argv)
{
	if (wants_help(argc, argv)) {
		printf("Usage: %s keygen PRIVATE.pem PUBLIC.pem\n\nMakes an Ed25519 signing key pair. Keep the "
		       "private key off the devices; put the public key in their keyring.\n",
		       program);
		return 0;
	}
	if (argc != 3)
		return usage_error("keygen takes PRIVATE.pem PUBLIC.pem");
	struct lb_error err = {0};
	if (lb_key_generate(argv[1], argv[2], &err) < 0)
		return tool_fail(program, &err, false, NULL);
	return 0;
}

static void create_progress(uint64_t done, uint64_t total, void *userdata)
{
	tool_progress_bar(userdata, "compressing", done, total);
}

static int parse_size(const char *s, uint32_t *ret)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	if (*end || v > UINT32_MAX)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

static int verb_create(int argc, char **argv)
{
	static const struct option options[] = {
		{"key", required_argument, NULL, 'k'},         {"compatible", required_argument, NULL, 'C'},
		{"version", required_argument, NULL, 'V'},     {"description", required_argument, NULL, 'd'},
		{"min-recovery", required_argument, NULL, 'm'}, {"chunk-size", required_argument, NULL, 's'},
		{"level", required_argument, NULL, 'l'},       {"image", required_argument, NULL, 'i'},
		{"unsigned", no_argument, NULL, 'U'},          {"threads", required_argument, NULL, 'j'},
		{"output", required_argument, NULL, 'o'},      {"help", no_argument, NULL, 'h'},
		{0},
	};
	struct lb_create_options opt = {.chunk_size = LB_CHUNK_SIZE_DEFAULT, .level = 3, .min_recovery_version = "0"};
	struct lb_image_source images[LB_IMAGES_MAX];
	char image_args[LB_IMAGES_MAX][4096];
	bool unsigned_ = false;
	int c;

	while ((c = getopt_long(argc, argv, "o:", options, NULL)) >= 0) {
		switch (c) {
		case 'k':
			opt.key_path = optarg;
			break;
		case 'C':
			opt.compatible = optarg;
			break;
		case 'V':
			opt.version = optarg;
			break;
		case 'd':
			opt.description = optarg;
			break;
		case 'm':
			opt.min_recovery_version = optarg;
			break;
		case 's':
			if (parse_size(optarg, &opt.chunk_size) < 0)
				return usage_error("--chunk-size takes a size such as 1M or 65536");
			break;
		case 'l':
			opt.level = atoi(optarg);
			break;
		case 'i': {
			if (opt.image_count == LB_IMAGES_MAX)
				return usage_error("too many --image options");
			char *a = image_args[opt.image_count];
			snprintf(a, sizeof(image_args[0]), "%s", optarg);
			char *eq = strchr(a, '=');
			if (!eq)
				return usage_error("--image takes ROLE=FILE");
			*eq = '\0';
			images[opt.image_count++] = (struct lb_image_source){.role = a, .path = eq + 1};
			break;
		}
		case 'U':
			unsigned_ = true;
			break;
		case 'j':
			opt.threads = (unsigned)atoi(optarg);
			break;
		case 'o':
			opt.output = optarg;
			break;
		case 'h':
			printf("Usage: %s create --key PRIVATE.pem --compatible STR --version STR\n"
			       "       [--description STR] [--min-recovery VERSION] [--chunk-size N] [--level N]\n"
			       "       --image ROLE=FILE [--image ROLE=FILE ...] -o BUNDLE\n\n"
			       "Makes a signed bundle. --unsigned instead of --key makes an unsigned one, which\n"
			       "devices refuse unless configured for development. SOURCE_DATE_EPOCH sets the\n"
			       "build time for reproducible bundles.\n",
			       program);
			return 0;
		default:
			return LB_E_USAGE;
		}
	}
	if (optind != argc)
		return usage_error("create takes only options");
	if (!opt.compatible || !opt.version || !opt.output || opt.image_count == 0)
		return usage_error("create needs --compatible, --version, at least one --image and -o");
	if (!opt.key_path && !unsigned_)
		return usage_error("create needs --key PRIVATE.pem (or --unsigned for development)");
	if (opt.key_path && unsigned_)
		return usage_error("--key and --unsigned exclude each other");

	const char *epoch = getenv("SOURCE_DATE_EPOCH");
	opt.build_time = epoch ? strtoull(epoch, NULL, 10) : (uint64_t)time(NULL);
	opt.images = images;

	struct tool_progress tp;
	tool_progress_init(&tp, false);
	opt.progress = create_progress;
	opt.userdata = &tp;
	struct lb_error err = {0};
	int r = lb_bundle_create(&opt, &err);
	tool_progress_finish(&tp);
	if (r < 0)
		return tool_fail(program, &err, false, NULL);
	return 0;
}

static void print_time(uint64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int verb_info(int argc, char **argv)
{
	bool json = false;
	const char *path = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--help")) {
			printf("Usage: %s info [--json] BUNDLE\n\nShows the header (no signature check: use verify).\n",
			       program);
			return 0;
		} else if (!path)
			path = argv[i];
		else
			return usage_error("info takes one BUNDLE");
	}
	if (!path)
		return usage_error("info takes one BUNDLE");

	struct lb_error err = {0};
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		lb_error_set(&err, errno, LB_E_IO, "cannot open %s: %s", path, strerror(errno));
		return tool_fail(program, &err, json, NULL);
	}
	struct lb_input in;
	lb_input_init_fd(&in, &fd);
	struct lb_bundle_header h;
	if (lb_bundle_read_header(&in, &h, &err) < 0)
		return tool_fail(program, &err, json, NULL);
	if (lb_bundle_header_parse(&h, &err) < 0) {
		lb_bundle_header_free(&h);
		return tool_fail(program, &err, json, NULL);
	}
	const struct lb_manifest *m = &h.manifest;
	char when[32], hex[LB_SHA256_HEX_SIZE + 1], key[LB_SHA256_HEX_SIZE + 1] = "";
	print_time(m->build_time, when, sizeof(when));
	if (h.signed_)
		lb_hex_encode(h.signature, LB_SHA256_SIZE, key);

	if (json) {
		printf("{\"format\":%u,\"compatible\":", m->format);
		lb_json_string(stdout, m->compatible);
		printf(",\"version\":");
		lb_json_string(stdout, m->version);
		printf(",\"description\":");
		lb_json_string(stdout, m->description);
		printf(",\"build_time\":%" PRIu64 ",\"min_recovery_version\":", m->build_time);
		lb_json_string(stdout, m->min_recovery_version);
		printf(",\"signed\":%s,\"key_id\":\"%s\",\"bundle_size\":%" PRIu64 ",\"images\":[",
		       h.signed_ ? "true" : "false", key, lb_bundle_size(&h));
		for (unsigned i = 0; i < m->image_count; i++) {
			const struct lb_image *img = &m->images[i];
			unsigned zero = 0;
			for (uint32_t c = 0; c < img->chunk_count; c++)
				zero += img->chunks[c].compressed_size == 0;
			lb_hex_encode(img->sha256, LB_SHA256_SIZE, hex);
			printf("%s{\"role\":\"%s\",\"fstype\":\"%s\",\"size\":%" PRIu64 ",\"sha256\":\"%s\","
			       "\"chunk_size\":%u,\"chunks\":%u,\"zero_chunks\":%u,\"payload_size\":%" PRIu64 "}",
			       i ? "," : "", img->role, img->fstype, img->size, hex, img->chunk_size, img->chunk_count,
			       zero, img->payload_size);
		}
		printf("]}\n");
	} else {
		printf("compatible:    %s\nversion:       %s\ndescription:   %s\nbuilt:         %s\n"
		       "min. recovery: %s\nsigned:        %s%.16s\nsize:          %" PRIu64 " bytes\n",
		       m->compatible, m->version, m->description, when, m->min_recovery_version,
		       h.signed_ ? "yes, key " : "NO", key, lb_bundle_size(&h));
		for (unsigned i = 0; i < m->image_count; i++) {
			const struct lb_image *img = &m->images[i];
			lb_hex_encode(img->sha256, LB_SHA256_SIZE, hex);
			printf("image %s: %s, %" PRIu64 " bytes in %u chunks of %u KiB, %" PRIu64
			       " bytes compressed\n  sha256 %s\n",
			       img->role, img->fstype, img->size, img->chunk_count, img->chunk_size >> 10,
			       img->payload_size, hex);
		}
	}
	lb_bundle_header_free(&h);
	return 0;
}

static int verb_verify(int argc, char **argv)
{
	const char *keyring = NULL, *path = NULL;
	for (int i = 1; i < argc; i++) {
		if ((!strcmp(argv[i], "--key") || !strcmp(argv[i], "--keyring")) && i + 1 < argc)
			keyring = argv[++i];
		else if (!strcmp(argv[i], "--help")) {
			printf("Usage: %s verify (--key PUBLIC.pem | --keyring DIR) BUNDLE\n\n"
			       "Checks the signature, every chunk and every image hash; writes nothing.\n",
			       program);
			return 0;
		} else if (!path)
			path = argv[i];
		else
			return usage_error("verify takes one BUNDLE");
	}
	if (!keyring || !path)
		return usage_error("verify needs --key PUBLIC.pem or --keyring DIR, and a BUNDLE");

	struct lb_error err = {0};
	struct lb_keyring *keys = NULL;
	if (lb_keyring_load(keyring, &keys, &err) < 0)
		return tool_fail(program, &err, false, NULL);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		lb_keyring_free(keys);
		lb_error_set(&err, errno, LB_E_IO, "cannot open %s: %s", path, strerror(errno));
		return tool_fail(program, &err, false, NULL);
	}
	struct lb_input in;
	lb_input_init_fd(&in, &fd);
	struct lb_install_options opt = {.keyring = keys, .dry_run = true};
	struct lb_install_result res;
	int r = lb_install(&in, &opt, &res, &err);
	lb_keyring_free(keys);
	if (r < 0)
		return tool_fail(program, &err, false, NULL);
	printf("%s: valid bundle, version %s for %s, %" PRIu64 " bytes of images\n", path, res.version,
	       res.compatible, res.image_bytes);
	return 0;
}

static const struct tool_verb verbs[] = {
	{"keygen", verb_keygen, "make an Ed25519 signing key pair"},
	{"create", verb_create, "make a signed bundle from images"},
	{"info", verb_info, "show a bundle's header"},
	{"verify", verb_verify, "check a bundle completely, writing nothing"},
};

int main(int argc, char **argv)
{
	return tool_dispatch(program, verbs, ELEMENTSOF(verbs), argc, argv);
}
