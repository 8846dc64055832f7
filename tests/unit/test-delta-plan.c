/* Delta plans: the order of the copies (chains, cycles, a chunk overlapping itself), the plan
 * file, and whole delta installs in-process onto plain files: images made of tagged 4 KiB
 * blocks, rearranged so that chunks move, swap places and shift by odd numbers of blocks; the
 * target must end byte-identical to the new image, and a stale or foreign plan is refused (a
 * foreign one without ending a cut full upload's session). */
#include "lib/create.h"
#include "lib/delta-plan.h"
#include "lib/install.h"
#include "lib/io.h"
#include "lib/session.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#define BLK 4096u
#define CS 65536u
#define BPC (CS / BLK) /* blocks per chunk */

/* ---- ordering, on a manifest made by hand ---- */

static struct lb_chunk hand_chunks[8];

static struct lb_manifest hand_manifest(uint32_t chunks)
{
	struct lb_manifest m = {.format = 2, .image_count = 1};
	m.images[0] = (struct lb_image){.size = (uint64_t)chunks * CS, .chunk_size = CS, .chunk_count = chunks,
					.chunks = hand_chunks};
	for (uint32_t c = 0; c < chunks; c++)
		hand_chunks[c] = (struct lb_chunk){.compressed_size = 100};
	return m;
}

static struct lb_delta_plan hand_plan(uint32_t chunks)
{
	struct lb_delta_plan p = {.chunk_count = chunks};
	p.kind = calloc(chunks, 1);
	p.source = calloc(chunks, sizeof(*p.source));
	return p;
}

static void test_order_chain(void)
{
	/* 0 reads 1's place, 1 reads 2's, 2 reads an unaligned place over 3 (sent): 0, 1, 2 */
	struct lb_manifest m = hand_manifest(4);
	struct lb_delta_plan p = hand_plan(4);
	p.kind[0] = p.kind[1] = p.kind[2] = LB_PLAN_COPY;
	p.source[0] = 1 * CS;
	p.source[1] = 2 * CS;
	p.source[2] = 3 * CS - 8192;
	p.kind[3] = LB_PLAN_SEND;
	CHECK(lb_delta_plan_order(&m, 1000, &p) == 0);
	CHECK(p.copy_count == 3 && p.cycles_broken == 0);
	CHECK(p.copy_order[0] == 0 && p.copy_order[1] == 1 && p.copy_order[2] == 2);
	CHECK(p.send == 1 && p.moved == 3 && p.send_bytes == 1100 && p.reused_bytes == 3 * CS);
	lb_delta_plan_free(&p);
}

static void test_order_reverse(void)
{
	/* a shift by one block: chunk i reads the end of i-1 and the start of i; i must come before
	 * i-1 is overwritten, so the copies run from the last to the first */
	struct lb_manifest m = hand_manifest(5);
	struct lb_delta_plan p = hand_plan(5);
	for (uint32_t c = 1; c < 5; c++) {
		p.kind[c] = LB_PLAN_COPY;
		p.source[c] = c * CS - BLK;
	}
	p.kind[0] = LB_PLAN_SEND;
	CHECK(lb_delta_plan_order(&m, 0, &p) == 0);
	CHECK(p.copy_count == 4 && p.cycles_broken == 0);
	for (uint32_t k = 0; k < 4; k++)
		CHECK(p.copy_order[k] == 4 - k);
	lb_delta_plan_free(&p);
}

static void test_order_cycle(void)
{
	/* 0 and 1 trade places; 2 overlaps itself only; 3 is in place */
	struct lb_manifest m = hand_manifest(4);
	struct lb_delta_plan p = hand_plan(4);
	p.kind[0] = p.kind[1] = p.kind[2] = LB_PLAN_COPY;
	p.source[0] = 1 * CS;
	p.source[1] = 0;
	p.source[2] = 2 * CS + BLK; /* meets itself and chunk 3, which is in place */
	p.kind[3] = LB_PLAN_IN_PLACE;
	CHECK(lb_delta_plan_order(&m, 0, &p) == 0);
	CHECK(p.cycles_broken == 1);
	CHECK(p.kind[0] == LB_PLAN_SEND); /* the lowest of the cycle is sent */
	CHECK(p.copy_count == 2);
	CHECK(p.copy_order[0] == 2 && p.copy_order[1] == 1); /* 2 was ready first */
	CHECK(p.send == 1 && p.moved == 2 && p.in_place == 1);
	lb_delta_plan_free(&p);
}

/* ---- whole delta installs onto files ---- */

/* Writes an image of 4 KiB blocks: tag 0 is a zero block, any other tag a block of its own. */
static void write_blocks(const char *path, const uint32_t *tags, size_t count)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	uint8_t block[BLK];
	for (size_t b = 0; b < count; b++) {
		for (size_t i = 0; i < BLK; i++)
			block[i] = tags[b] ? (uint8_t)(tags[b] * 131 + i * 7 + (i >> 8) * tags[b]) : 0;
		if (tags[b])
			memcpy(block, &tags[b], sizeof(tags[b]));
		(void)!write(fd, block, BLK);
	}
	close(fd);
}

static uint8_t *read_all(const char *path, size_t *ret_size)
{
	char *data = NULL;
	if (lb_read_file(path, 64u << 20, &data, ret_size) < 0)
		return NULL;
	return (uint8_t *)data;
}

static int make_bundle_of(const char *image, const char *out, const char *version)
{
	struct lb_error e = {0};
	struct lb_image_source src = {"rootfs", image};
	struct lb_create_options opt = {.compatible = "unit", .version = version, .min_recovery_version = "0",
					.images = &src, .image_count = 1, .chunk_size = CS, .level = 1,
					.output = out};
	return lb_bundle_create(&opt, &e);
}

struct buffer_input {
	const uint8_t *data;
	size_t size, pos;
};

static ssize_t buffer_read(void *ctx, void *buf, size_t size)
{
	struct buffer_input *b = ctx;
	size_t n = b->size - b->pos < size ? b->size - b->pos : size;
	memcpy(buf, b->data + b->pos, n);
	b->pos += n;
	return (ssize_t)n;
}

static struct lb_target_spec target_spec;

static struct lb_install_options options(void)
{
	target_spec = (struct lb_target_spec){"rootfs", unit_path("main")};
	return (struct lb_install_options){.allow_unsigned = true, .compatible = "unit", .targets = &target_spec,
					   .target_count = 1, .readback = true, .threads = 2};
}

/* Plans the bundle at `bundle` against the target, as POST /api/install-plan does. */
static int plan_for(const uint8_t *bundle, size_t size, struct lb_bundle_header *h, struct lb_delta_plan *p,
		    struct lb_error *e)
{
	struct buffer_input b = {bundle, size, 0};
	struct lb_input in = {.read = buffer_read, .ctx = &b};
	struct lb_install_options opt = options();
	return lb_install_plan(&in, &opt, h, p, e);
}

/* The delta body: the header and the frames of the chunks the plan sends. */
static uint8_t *delta_body(const uint8_t *bundle, const struct lb_bundle_header *h, const struct lb_delta_plan *p,
			   size_t *ret_size)
{
	uint8_t *body = malloc(lb_bundle_size(h));
	size_t n = h->header_size;
	memcpy(body, bundle, n);
	uint32_t seq = 0;
	for (unsigned i = 0; i < h->manifest.image_count; i++)
		for (uint32_t c = 0; c < h->manifest.images[i].chunk_count; c++, seq++) {
			uint32_t size = h->manifest.images[i].chunks[c].compressed_size;
			if (p->kind[seq] == LB_PLAN_SEND && size) {
				memcpy(body + n, bundle + lb_bundle_chunk_offset(h, seq), size);
				n += size;
			}
		}
	*ret_size = n;
	return body;
}

/* A delta install of `body` with plan `p`; `session_dir` as the upload CGI gives it (NULL: none). */
static int install_body_in(const uint8_t *body, size_t size, struct lb_delta_plan *p, const char *session_dir,
			   struct lb_error *e)
{
	struct buffer_input b = {body, size, 0};
	struct lb_input in = {.read = buffer_read, .ctx = &b};
	struct lb_install_options opt = options();
	opt.plan = p;
	opt.session_dir = session_dir;
	struct lb_install_result res;
	return lb_install(&in, &opt, &res, e);
}

static int install_body(const uint8_t *body, size_t size, struct lb_delta_plan *p, struct lb_error *e)
{
	return install_body_in(body, size, p, NULL, e);
}

static bool same_files(const char *a, const char *b)
{
	size_t na, nb;
	uint8_t *x = read_all(a, &na), *y = read_all(b, &nb);
	bool same = x && y && nb >= na && memcmp(x, y, na) == 0;
	free(x);
	free(y);
	return same;
}

/* Old image on the target, new image bundled, planned, sent as a delta, installed. */
struct outcome {
	int plan_r, install_r;
	enum lb_code code;
	struct lb_delta_plan plan;
	size_t body_size, bundle_size;
	bool identical;
};

static struct outcome delta_install(const uint32_t *old_tags, const uint32_t *new_tags, size_t blocks)
{
	struct outcome o = {0};
	struct lb_error e = {0};
	struct lb_bundle_header h = {0};
	write_blocks(unit_path("main"), old_tags, blocks);
	write_blocks(unit_path("new"), new_tags, blocks);
	if (make_bundle_of(unit_path("new"), unit_path("new.lifeboat"), "2") < 0) {
		o.plan_r = -1;
		return o;
	}
	uint8_t *bundle = read_all(unit_path("new.lifeboat"), &o.bundle_size);
	o.plan_r = plan_for(bundle, o.bundle_size, &h, &o.plan, &e);
	if (o.plan_r == 0) {
		uint8_t *body = delta_body(bundle, &h, &o.plan, &o.body_size);
		o.install_r = install_body(body, o.body_size, &o.plan, &e);
		o.code = e.code;
		o.identical = same_files(unit_path("new"), unit_path("main"));
		free(body);
	}
	lb_bundle_header_free(&h);
	free(bundle);
	return o;
}

static void test_install_swapped(void)
{
	/* chunks A B C D E -> B A C D' E: A and B trade places (a cycle), C and E stay, D changes */
	uint32_t old_tags[5 * BPC], new_tags[5 * BPC];
	for (uint32_t b = 0; b < 5 * BPC; b++)
		old_tags[b] = b + 1;
	memcpy(new_tags, old_tags, sizeof(new_tags));
	for (uint32_t b = 0; b < BPC; b++) {
		new_tags[b] = old_tags[BPC + b];
		new_tags[BPC + b] = old_tags[b];
		new_tags[3 * BPC + b] = 1000 + b;
	}
	struct outcome o = delta_install(old_tags, new_tags, 5 * BPC);
	CHECK(o.plan_r == 0);
	CHECK(o.plan.cycles_broken == 1);
	CHECK(o.plan.in_place == 2 && o.plan.moved == 1 && o.plan.send == 2);
	CHECK(o.install_r == 0);
	CHECK(o.identical);
	CHECK(o.body_size == o.plan.send_bytes && o.body_size < o.bundle_size);
	lb_delta_plan_free(&o.plan);
}

static void test_install_shifted(void)
{
	/* three new blocks in front: every old chunk moves by three blocks, and overlaps the places
	 * of two chunks of the new image; a zero chunk in the middle; one block changed */
	enum { N = 12 * BPC };
	uint32_t old_tags[N], new_tags[N];
	for (uint32_t b = 0; b < N; b++)
		old_tags[b] = b >= 5 * BPC && b < 6 * BPC ? 0 : b + 1;
	new_tags[0] = 5001;
	new_tags[1] = 5002;
	new_tags[2] = 5003;
	for (uint32_t b = 3; b < N; b++)
		new_tags[b] = old_tags[b - 3];
	new_tags[9 * BPC + 4] = 6000;
	struct outcome o = delta_install(old_tags, new_tags, N);
	CHECK(o.plan_r == 0);
	CHECK(o.plan.moved >= 8);
	CHECK(o.plan.cycles_broken == 0);
	CHECK(o.install_r == 0);
	CHECK(o.identical);
	CHECK(o.body_size * 3 < o.bundle_size);
	lb_delta_plan_free(&o.plan);
}

static void test_install_stale_plan(void)
{
	/* main changes between the plan and the upload: the copy finds other bytes and stops */
	uint32_t old_tags[4 * BPC], new_tags[4 * BPC];
	for (uint32_t b = 0; b < 4 * BPC; b++)
		old_tags[b] = b + 1;
	for (uint32_t b = 0; b < 4 * BPC; b++)
		new_tags[b] = old_tags[(b + BPC) % (4 * BPC)]; /* every chunk moves one place down */
	struct lb_error e = {0};
	struct lb_bundle_header h = {0};
	struct lb_delta_plan p = {0};
	size_t size, body_size;
	write_blocks(unit_path("main"), old_tags, 4 * BPC);
	write_blocks(unit_path("new"), new_tags, 4 * BPC);
	CHECK(make_bundle_of(unit_path("new"), unit_path("new.lifeboat"), "2") == 0);
	uint8_t *bundle = read_all(unit_path("new.lifeboat"), &size);
	CHECK(plan_for(bundle, size, &h, &p, &e) == 0);
	CHECK(p.moved >= 3);
	uint32_t scribble[4 * BPC];
	for (uint32_t b = 0; b < 4 * BPC; b++)
		scribble[b] = 9000 + b;
	write_blocks(unit_path("main"), scribble, 4 * BPC);
	uint8_t *body = delta_body(bundle, &h, &p, &body_size);
	CHECK(install_body(body, body_size, &p, &e) < 0);
	CHECK(e.code == LB_E_PLAN_STALE);
	CHECK(strstr(e.message, "new plan") != NULL);
	free(body);
	free(bundle);
	lb_delta_plan_free(&p);
	lb_bundle_header_free(&h);
}

static void test_install_stale_in_place(void)
{
	/* every chunk but one in place, then main rewritten (another install, a write to the
	 * device): nothing is copied, so only the read-back meets the change; it is the plan that is
	 * stale, not the card that lost its bytes */
	uint32_t old_tags[4 * BPC], new_tags[4 * BPC], scribble[4 * BPC];
	for (uint32_t b = 0; b < 4 * BPC; b++) {
		old_tags[b] = new_tags[b] = b + 1;
		scribble[b] = 9000 + b;
	}
	new_tags[3 * BPC] = 7000;
	struct lb_error e = {0};
	struct lb_bundle_header h = {0};
	struct lb_delta_plan p = {0};
	size_t size, body_size;
	write_blocks(unit_path("main"), old_tags, 4 * BPC);
	write_blocks(unit_path("new"), new_tags, 4 * BPC);
	CHECK(make_bundle_of(unit_path("new"), unit_path("new.lifeboat"), "2") == 0);
	uint8_t *bundle = read_all(unit_path("new.lifeboat"), &size);
	CHECK(plan_for(bundle, size, &h, &p, &e) == 0);
	CHECK(p.in_place == 3 && p.moved == 0 && p.send == 1);
	write_blocks(unit_path("main"), scribble, 4 * BPC);
	uint8_t *body = delta_body(bundle, &h, &p, &body_size);
	CHECK(install_body(body, body_size, &p, &e) < 0);
	CHECK(e.code == LB_E_PLAN_STALE);
	CHECK(strstr(e.message, "no longer in place") && strstr(e.message, "new plan"));
	free(body);
	free(bundle);
	lb_delta_plan_free(&p);
	lb_bundle_header_free(&h);
}

static void test_install_foreign_plan_keeps_session(void)
{
	/* a cut full upload of bundle b left a session; a delta upload of b with a plan for a is
	 * refused before anything is written, and b's upload can still resume; a delta install that
	 * goes ahead ends the session (main no longer holds what it recorded) */
	uint32_t tags[2 * BPC];
	for (uint32_t b = 0; b < 2 * BPC; b++)
		tags[b] = b + 1;
	struct lb_error e = {0};
	struct lb_bundle_header ha = {0}, hb = {0};
	struct lb_delta_plan pa = {0}, pb = {0};
	struct lb_session session = {0}, loaded = {0};
	size_t size, other_size;
	write_blocks(unit_path("main"), tags, 2 * BPC);
	write_blocks(unit_path("new"), tags, 2 * BPC);
	CHECK(make_bundle_of(unit_path("new"), unit_path("a.lifeboat"), "2") == 0);
	CHECK(make_bundle_of(unit_path("new"), unit_path("b.lifeboat"), "3") == 0);
	uint8_t *a = read_all(unit_path("a.lifeboat"), &size), *b = read_all(unit_path("b.lifeboat"), &other_size);
	CHECK(plan_for(a, size, &ha, &pa, &e) == 0);
	CHECK(plan_for(b, other_size, &hb, &pb, &e) == 0);
	CHECK(lb_session_begin(unit_dir, &hb, 1, &session) == 0);
	lb_session_free(&session);
	CHECK(install_body_in(b, other_size, &pa, unit_dir, &e) < 0);
	CHECK(e.code == LB_E_NO_PLAN);
	CHECK(lb_session_load(unit_dir, &loaded, &e) == 0);
	CHECK(loaded.next_chunk == 1 && strcmp(loaded.version, "3") == 0);
	lb_session_free(&loaded);
	e = (struct lb_error){0};
	CHECK(install_body_in(a, pa.send_bytes, &pa, unit_dir, &e) == 0);
	CHECK(lb_session_load(unit_dir, &loaded, &e) == -ENOENT);
	free(a);
	free(b);
	lb_delta_plan_free(&pa);
	lb_delta_plan_free(&pb);
	lb_bundle_header_free(&ha);
	lb_bundle_header_free(&hb);
}

static void test_install_foreign_plan(void)
{
	/* a plan for one bundle, the body of another */
	uint32_t tags[2 * BPC];
	for (uint32_t b = 0; b < 2 * BPC; b++)
		tags[b] = b + 1;
	struct lb_error e = {0};
	struct lb_bundle_header h = {0};
	struct lb_delta_plan p = {0};
	size_t size, other_size;
	write_blocks(unit_path("main"), tags, 2 * BPC);
	write_blocks(unit_path("new"), tags, 2 * BPC);
	CHECK(make_bundle_of(unit_path("new"), unit_path("a.lifeboat"), "2") == 0);
	CHECK(make_bundle_of(unit_path("new"), unit_path("b.lifeboat"), "3") == 0);
	uint8_t *a = read_all(unit_path("a.lifeboat"), &size), *b = read_all(unit_path("b.lifeboat"), &other_size);
	CHECK(plan_for(a, size, &h, &p, &e) == 0);
	CHECK(p.in_place == 2 && p.send == 0 && p.send_bytes == h.header_size);
	CHECK(install_body(b, other_size, &p, &e) < 0);
	CHECK(e.code == LB_E_NO_PLAN);
	free(a);
	free(b);
	lb_delta_plan_free(&p);
	lb_bundle_header_free(&h);
}

static void test_plan_file(void)
{
	uint32_t old_tags[3 * BPC], new_tags[3 * BPC];
	for (uint32_t b = 0; b < 3 * BPC; b++) {
		old_tags[b] = b + 1;
		new_tags[b] = b < BPC ? 7000 + b : old_tags[b - BPC + 1];
	}
	struct lb_error e = {0};
	struct lb_bundle_header h = {0};
	struct lb_delta_plan p = {0}, q = {0};
	size_t size;
	write_blocks(unit_path("main"), old_tags, 3 * BPC);
	write_blocks(unit_path("new"), new_tags, 3 * BPC);
	CHECK(make_bundle_of(unit_path("new"), unit_path("new.lifeboat"), "2") == 0);
	uint8_t *bundle = read_all(unit_path("new.lifeboat"), &size);
	CHECK(plan_for(bundle, size, &h, &p, &e) == 0);
	free(bundle);
	CHECK(lb_delta_plan_save(unit_dir, &p) == 0);
	CHECK(lb_delta_plan_load(unit_dir, &q) == 0);
	CHECK(lb_delta_plan_check(&q, &h) == 0);
	CHECK(q.copy_count == p.copy_count && q.send_bytes == p.send_bytes && q.reused_bytes == p.reused_bytes);
	CHECK(memcmp(q.kind, p.kind, p.chunk_count) == 0);
	for (uint32_t k = 0; k < p.copy_count; k++)
		CHECK(q.copy_order[k] == p.copy_order[k] && q.source[q.copy_order[k]] == p.source[p.copy_order[k]]);
	lb_delta_plan_free(&q);

	/* a plan whose kinds contradict the manifest, or for another manifest, is refused */
	p.kind[0] = p.kind[0] == LB_PLAN_ZERO ? LB_PLAN_SEND : LB_PLAN_ZERO;
	CHECK(lb_delta_plan_save(unit_dir, &p) == 0);
	CHECK(lb_delta_plan_load(unit_dir, &q) == 0);
	CHECK(lb_delta_plan_check(&q, &h) == -EBADMSG);
	lb_delta_plan_free(&q);
	p.manifest_sha256[0] ^= 1;
	CHECK(lb_delta_plan_save(unit_dir, &p) == 0);
	CHECK(lb_delta_plan_load(unit_dir, &q) == 0);
	CHECK(lb_delta_plan_check(&q, &h) == -ESRCH);
	lb_delta_plan_free(&q);

	CHECK(lb_write_file_atomic(unit_path(LB_PLAN_FILE), "kinds=zzz\n", 10, 0644) == 0);
	CHECK(lb_delta_plan_load(unit_dir, &q) == -EBADMSG);
	lb_delta_plan_discard(unit_dir);
	CHECK(lb_delta_plan_load(unit_dir, &q) == -ENOENT);
	lb_delta_plan_free(&p);
	lb_bundle_header_free(&h);
}

int main(void)
{
	static const struct unit_test tests[] = {
		{"/delta-plan/order/chain", test_order_chain},
		{"/delta-plan/order/reverse", test_order_reverse},
		{"/delta-plan/order/cycle", test_order_cycle},
		{"/delta-plan/install/swapped", test_install_swapped},
		{"/delta-plan/install/shifted", test_install_shifted},
		{"/delta-plan/install/stale-plan", test_install_stale_plan},
		{"/delta-plan/install/foreign-plan", test_install_foreign_plan},
		{"/delta-plan/install/stale-in-place", test_install_stale_in_place},
		{"/delta-plan/install/foreign-plan-keeps-session", test_install_foreign_plan_keeps_session},
		{"/delta-plan/file", test_plan_file},
	};
	return unit_main(tests, sizeof(tests) / sizeof(tests[0]));
}
