/* lifeboat-bundle: the host tool that makes, inspects and checks bundles. */
#include "lib/bundle.h"
#include "lib/chunk-index.h"
#include "lib/create.h"
#include "lib/delta-plan.h"
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
#include <zstd.h>

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
		{"output", required_argument, NULL, 'o'},      {"format", required_argument, NULL, 'F'},
		{"help", no_argument, NULL, 'h'},              {0},
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
		case 'F':
			if (strcmp(optarg, "1") != 0 && strcmp(optarg, "2") != 0)
				return usage_error("--format takes 1 (any recovery) or 2 (delta installs; the default)");
			opt.format = (unsigned)atoi(optarg);
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
			       "       [--format 1|2] --image ROLE=FILE [--image ROLE=FILE ...] -o BUNDLE\n\n"
			       "Makes a signed bundle. --unsigned instead of --key makes an unsigned one, which\n"
			       "devices refuse unless configured for development. SOURCE_DATE_EPOCH sets the\n"
			       "build time for reproducible bundles. Format 2 (the default) lets a device find\n"
			       "the chunks it already holds (delta installs); --format 1 is for recoveries older\n"
			       "than that. --chunk-size 64K finds the most on file-system images.\n",
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

/* Opens the bundle at `path` and reads and parses its header; `in` then stands at the first
 * chunk's frame, reading from *ret_fd (which the caller closes, also on failure). The signature is
 * not checked: that takes a keyring (verify). */
static int open_bundle(const char *path, int *ret_fd, struct lb_input *in, struct lb_bundle_header *ret,
		       struct lb_error *err)
{
	*ret_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*ret_fd < 0)
		return lb_error_set(err, errno, LB_E_IO, "cannot open %s: %s", path, strerror(errno));
	lb_input_init_fd(in, ret_fd);
	int r = lb_bundle_read_header(in, ret, err);
	if (r < 0)
		return r;
	r = lb_bundle_header_parse(ret, err);
	if (r < 0)
		lb_bundle_header_free(ret);
	return r;
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
	_cleanup_close_ int fd = -1;
	struct lb_input in;
	struct lb_bundle_header h;
	if (open_bundle(path, &fd, &in, &h, &err) < 0)
		return tool_fail(program, &err, json, NULL);
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

static void ZSTD_freeDCtxp(ZSTD_DCtx **d)
{
	ZSTD_freeDCtx(*d);
}

/* The wants of image `chosen` with anchors: the whole payload read in order, the chosen image's
 * chunks decompressed and checked against the manifest (what a client holding the bundle does
 * before it asks the device). */
static int read_anchored_wants(struct lb_input *in, const struct lb_manifest *m, unsigned chosen,
			       struct lb_chunk_want *wants, struct lb_error *err)
{
	uint32_t max = 0;
	for (unsigned i = 0; i < m->image_count; i++)
		max = m->images[i].chunk_size > max ? m->images[i].chunk_size : max;
	_cleanup_free_ uint8_t *packed = malloc(ZSTD_compressBound(max)), *data = malloc(max);
	_cleanup_(ZSTD_freeDCtxp) ZSTD_DCtx *dctx = ZSTD_createDCtx();
	if (!packed || !data || !dctx)
		return lb_error_set(err, ENOMEM, LB_E_INTERNAL, "out of memory");
	for (unsigned i = 0; i < m->image_count; i++) {
		const struct lb_image *img = &m->images[i];
		for (uint32_t c = 0; c < img->chunk_count; c++) {
			const struct lb_chunk *ch = &img->chunks[c];
			uint32_t length = lb_image_chunk_length(img, c);
			if (ch->compressed_size == 0) {
				if (i == chosen)
					wants[c] = (struct lb_chunk_want){.length = length, .zero = true};
				continue;
			}
			ssize_t n = lb_input_read_full(in, packed, ch->compressed_size);
			if (n < 0)
				return lb_error_set(err, (int)-n, LB_E_READ, "reading the bundle failed: %s",
						    strerror((int)-n));
			if ((size_t)n != ch->compressed_size)
				return lb_error_set(err, EIO, LB_E_TRUNCATED,
						    "the bundle ends inside chunk %u of image %s: copy it again", c + 1,
						    img->role);
			if (i != chosen)
				continue;
			size_t got = ZSTD_decompressDCtx(dctx, data, length, packed, ch->compressed_size);
			if (ZSTD_isError(got) || got != length)
				return lb_error_set(err, EBADMSG, LB_E_CHUNK_CORRUPT,
						    "chunk %u of image %s does not decompress: copy the bundle again", c + 1,
						    img->role);
			lb_chunk_want_from_data(data, length, &wants[c]);
			if (memcmp(wants[c].sha256, ch->sha256, LB_SHA256_SIZE))
				return lb_error_set(err, EBADMSG, LB_E_CHUNK_CORRUPT,
						    "chunk %u of image %s does not match its hash: copy the bundle again",
						    c + 1, img->role);
		}
	}
	return 0;
}

static int verb_delta_estimate(int argc, char **argv)
{
	const char *base = NULL, *role = NULL, *step_arg = "4096", *path = NULL;
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--base") && i + 1 < argc)
			base = argv[++i];
		else if (!strcmp(argv[i], "--step") && i + 1 < argc)
			step_arg = argv[++i];
		else if (!strcmp(argv[i], "--role") && i + 1 < argc)
			role = argv[++i];
		else if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--help")) {
			printf("Usage: %s delta-estimate --base OLD-IMAGE [--step 4096|chunk] [--role ROLE] [--json] BUNDLE\n\n"
			       "How much of BUNDLE a device whose main holds OLD-IMAGE would not need: its chunks\n"
			       "found in OLD-IMAGE (same SHA-256) at any 4 KiB block (--step 4096, the default) or\n"
			       "only at chunk-aligned places (--step chunk), the bytes still to send, and the time\n"
			       "the matching took per GiB of OLD-IMAGE. --role chooses the image (default: the only\n"
			       "one, or rootfs). Writes nothing.\n",
			       program);
			return 0;
		} else if (argv[i][0] == '-' && argv[i][1])
			return usage_error("delta-estimate: unknown option or missing value");
		else if (!path)
			path = argv[i];
		else
			return usage_error("delta-estimate takes one BUNDLE");
	}
	if (!base || !path)
		return usage_error("delta-estimate needs --base OLD-IMAGE and a BUNDLE");
	bool aligned = !strcmp(step_arg, "chunk");
	if (!aligned && strcmp(step_arg, "4096"))
		return usage_error("--step takes 4096 (every file-system block) or chunk (chunk-aligned places)");

	struct lb_error err = {0};
	_cleanup_close_ int fd = -1;
	struct lb_input in;
	struct lb_bundle_header h;
	if (open_bundle(path, &fd, &in, &h, &err) < 0)
		return tool_fail(program, &err, json, NULL);
	const struct lb_manifest *m = &h.manifest;
	unsigned chosen = m->image_count;
	for (unsigned i = 0; i < m->image_count; i++)
		if (role ? !strcmp(m->images[i].role, role) : (m->image_count == 1 || !strcmp(m->images[i].role, "rootfs")))
			chosen = i;
	if (chosen == m->image_count) {
		lb_bundle_header_free(&h);
		return usage_error(role ? "the bundle has no image of that --role (lifeboat-bundle info lists them)"
					: "the bundle has several images and none is rootfs: choose one with --role");
	}
	const struct lb_image *img = &m->images[chosen];
	uint32_t step = aligned ? img->chunk_size : LB_CHUNK_INDEX_BLOCK;

	int r = 0;
	uint64_t *offsets = calloc(img->chunk_count + 1, sizeof(*offsets));
	struct lb_chunk_want *wants = calloc(img->chunk_count + 1, sizeof(*wants));
	struct lb_chunk_index *idx = NULL;
	struct lb_chunk_match_stats st = {0};
	double t_anchor = 0, t_index = 0, t_match = 0;
	if (!offsets || !wants)
		r = lb_error_set(&err, ENOMEM, LB_E_INTERNAL, "out of memory");
	else if (aligned) {
		/* the manifest is all the chunk-aligned search needs */
		for (uint32_t c = 0; c < img->chunk_count; c++) {
			memcpy(wants[c].sha256, img->chunks[c].sha256, LB_SHA256_SIZE);
			wants[c].length = lb_image_chunk_length(img, c);
			wants[c].zero = img->chunks[c].compressed_size == 0;
		}
	} else {
		double t = tool_now();
		r = read_anchored_wants(&in, m, chosen, wants, &err);
		t_anchor = tool_now() - t;
	}
	if (r >= 0) {
		double t = tool_now();
		r = lb_chunk_index_new(base, 0, img->chunk_size, step, &idx, &err);
		t_index = tool_now() - t;
	}
	if (r >= 0) {
		double t = tool_now();
		r = lb_chunk_index_match(idx, wants, img->chunk_count, offsets, &st, &err);
		t_match = tool_now() - t;
	}
	if (r < 0) {
		lb_chunk_index_free(idx);
		free(offsets);
		free(wants);
		lb_bundle_header_free(&h);
		return tool_fail(program, &err, json, NULL);
	}

	/* what still crosses the tether: the header, every other image, this image's chunks not found */
	uint64_t send_raw = 0, send_packed = 0;
	for (uint32_t c = 0; c < img->chunk_count; c++)
		if (!wants[c].zero && offsets[c] == LB_CHUNK_NONE) {
			send_raw += lb_image_chunk_length(img, c);
			send_packed += img->chunks[c].compressed_size;
		}
	uint64_t full = lb_bundle_size(&h);
	uint64_t send_total = full - img->payload_size + send_packed;
	uint64_t source = lb_chunk_index_source_size(idx);
	double gib = (double)source / (1u << 30);
	double per_gib = gib > 0 ? (t_index + t_match) / gib : 0;
	double fraction = (double)send_total / (double)full;

	/* What a device would really be told (POST /api/install-plan): the same matching from the
	 * manifest's anchors, plus the copy order, whose cycles cost a chunk each. One image only,
	 * since OLD-IMAGE stands for one target. */
	struct lb_delta_plan plan = {0};
	bool planned = !aligned && h.format >= 2 && m->image_count == 1 &&
		       lb_delta_plan_make(&h, (const char *const[]){base}, &plan, &err) == 0;

	if (json) {
		printf("{\"base\":");
		lb_json_string(stdout, base);
		printf(",\"base_size\":%" PRIu64 ",\"role\":\"%s\",\"chunk_size\":%u,\"step\":%u,\"chunks\":%u,"
		       "\"zero_chunks\":%u,\"in_place\":%u,\"moved\":%u,\"to_send\":%u,\"reused_bytes\":%" PRIu64
		       ",\"send_bytes\":%" PRIu64 ",\"send_compressed\":%" PRIu64 ",\"send_total\":%" PRIu64
		       ",\"bundle_size\":%" PRIu64 ",\"fraction\":%.4f,\"anchor_seconds\":%.3f,\"index_seconds\":%.3f,"
		       "\"match_seconds\":%.3f,\"seconds_per_gib\":%.3f,\"index_memory\":%zu,\"candidates\":%" PRIu64
		       ",\"hashed_bytes\":%" PRIu64,
		       source, img->role, img->chunk_size, step, img->chunk_count, st.zero, st.in_place, st.moved,
		       st.missing, st.reused_bytes, send_raw, send_packed, send_total, full, fraction, t_anchor,
		       t_index, t_match, per_gib, lb_chunk_index_memory(idx), st.candidates, st.hashed_bytes);
		if (planned)
			printf(",\"plan\":{\"send_bytes\":%" PRIu64 ",\"fraction\":%.4f,\"in_place\":%u,\"moved\":%u,"
			       "\"cycles_broken\":%u,\"seconds\":%.3f}}\n",
			       plan.send_bytes, (double)plan.send_bytes / (double)full, plan.in_place, plan.moved,
			       plan.cycles_broken, plan.seconds);
		else
			printf(",\"plan\":null}\n");
	} else {
		printf("image %s: %u chunks of %u KiB (%u zero), matched at every %s against %s (%" PRIu64 " bytes)\n"
		       "reused:   %u chunks (%u in place, %u moved), %" PRIu64 " bytes\n"
		       "to send:  %u chunks, %" PRIu64 " bytes, %" PRIu64 " compressed\n"
		       "sent:     %" PRIu64 " of %" PRIu64 " bundle bytes: %.3f of the full bundle\n"
		       "matching: %.2f s (index %.2f s, match %.2f s), %.2f s per GiB of base; index %zu bytes\n",
		       img->role, img->chunk_count, img->chunk_size >> 10, st.zero, aligned ? "chunk" : "4 KiB block",
		       base, source, st.in_place + st.moved, st.in_place, st.moved, st.reused_bytes, st.missing,
		       send_raw, send_packed, send_total, full, fraction, t_index + t_match, t_index, t_match,
		       per_gib, lb_chunk_index_memory(idx));
		if (planned)
			printf("plan:     %" PRIu64 " of %" PRIu64 " bundle bytes: %.3f (as a device would plan it: %u in "
			       "place, %u moved, %u cycles broken, %.2f s)\n",
			       plan.send_bytes, full, (double)plan.send_bytes / (double)full, plan.in_place, plan.moved,
			       plan.cycles_broken, plan.seconds);
	}
	lb_delta_plan_free(&plan);
	lb_chunk_index_free(idx);
	free(offsets);
	free(wants);
	lb_bundle_header_free(&h);
	return 0;
}

static const struct tool_verb verbs[] = {
	{"keygen", verb_keygen, "make an Ed25519 signing key pair"},
	{"create", verb_create, "make a signed bundle from images"},
	{"info", verb_info, "show a bundle's header"},
	{"verify", verb_verify, "check a bundle completely, writing nothing"},
	{"delta-estimate", verb_delta_estimate, "how much of a bundle a device holding an old image would not need"},
};

int main(int argc, char **argv)
{
	return tool_dispatch(program, verbs, ELEMENTSOF(verbs), argc, argv);
}
