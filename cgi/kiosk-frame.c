#include "kiosk-frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const struct kiosk_cell blank = {.text = " ", .len = 1};

/* Decodes one UTF-8 character; returns the bytes it takes (at least 1, never past the NUL).
 * A malformed sequence reads as U+FFFD. */
static size_t next_char(const char *s, uint32_t *ret_cp)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n;
	uint32_t cp;
	if (u[0] < 0x80) {
		*ret_cp = u[0];
		return 1;
	} else if ((u[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = u[0] & 0x1f;
	} else if ((u[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = u[0] & 0x0f;
	} else if ((u[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = u[0] & 0x07;
	} else {
		*ret_cp = 0xfffd;
		return 1;
	}
	for (size_t i = 1; i < n; i++) {
		if ((u[i] & 0xc0) != 0x80) {
			*ret_cp = 0xfffd;
			return i;
		}
		cp = cp << 6 | (u[i] & 0x3f);
	}
	/* overlong forms and surrogates are malformed too */
	static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
	*ret_cp = cp < min[n] || (cp >= 0xd800 && cp < 0xe000) || cp > 0x10ffff ? 0xfffd : cp;
	return n;
}

/* What a character becomes on the screen: controls (C0, DEL, C1) a space; anything outside
 * Latin, box drawing and block elements (which every console font has, one cell wide) a '?'.
 * Returns the code point to draw. */
static uint32_t screen_char(uint32_t cp)
{
	if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
		return ' ';
	if (cp < 0x7f || (cp >= 0xa0 && cp < 0x250) || (cp >= 0x2500 && cp < 0x25a0))
		return cp;
	return '?';
}

static void set_cell(struct kiosk_cell *c, uint32_t cp, kiosk_style style)
{
	*c = (struct kiosk_cell){.style = style};
	if (cp < 0x80) {
		c->text[0] = (char)cp;
		c->len = 1;
	} else if (cp < 0x800) {
		c->text[0] = (char)(0xc0 | cp >> 6);
		c->text[1] = (char)(0x80 | (cp & 0x3f));
		c->len = 2;
	} else {
		c->text[0] = (char)(0xe0 | cp >> 12);
		c->text[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		c->text[2] = (char)(0x80 | (cp & 0x3f));
		c->len = 3;
	}
}

int kiosk_frame_init(struct kiosk_frame *f, unsigned width, unsigned height)
{
	width = width > KIOSK_FRAME_MAX_WIDTH ? KIOSK_FRAME_MAX_WIDTH : width;
	height = height > KIOSK_FRAME_MAX_HEIGHT ? KIOSK_FRAME_MAX_HEIGHT : height;
	struct kiosk_cell *cells = calloc((size_t)width * height + 1, sizeof(*cells));
	if (!cells)
		return -ENOMEM;
	*f = (struct kiosk_frame){.width = width, .height = height, .cells = cells};
	kiosk_frame_clear(f);
	return 0;
}

void kiosk_frame_free(struct kiosk_frame *f)
{
	free(f->cells);
	*f = (struct kiosk_frame){0};
}

void kiosk_frame_clear(struct kiosk_frame *f)
{
	for (size_t i = 0; i < (size_t)f->width * f->height; i++)
		f->cells[i] = blank;
}

static struct kiosk_cell *cell(struct kiosk_frame *f, unsigned row, unsigned col)
{
	return row < f->height && col < f->width ? &f->cells[(size_t)row * f->width + col] : NULL;
}

unsigned kiosk_frame_put(struct kiosk_frame *f, unsigned row, unsigned col, const char *text,
			 kiosk_style style)
{
	unsigned n = 0;
	while (*text) {
		uint32_t cp;
		text += next_char(text, &cp);
		struct kiosk_cell *c = cell(f, row, col + n);
		if (!c)
			break;
		set_cell(c, screen_char(cp), style);
		n++;
	}
	return n;
}

void kiosk_frame_fill(struct kiosk_frame *f, unsigned row, unsigned col, unsigned count, const char *ch,
		      kiosk_style style)
{
	uint32_t cp;
	next_char(ch, &cp);
	cp = screen_char(cp);
	for (unsigned i = 0; i < count; i++) {
		struct kiosk_cell *c = cell(f, row, col + i);
		if (!c)
			break;
		set_cell(c, cp, style);
	}
}

void kiosk_frame_paint(struct kiosk_frame *f, unsigned row, unsigned col, unsigned count, kiosk_style style)
{
	for (unsigned i = 0; i < count; i++) {
		struct kiosk_cell *c = cell(f, row, col + i);
		if (!c)
			break;
		c->style = style;
	}
}

size_t kiosk_frame_row_text(const struct kiosk_frame *f, unsigned row, char *buf, size_t size)
{
	size_t n = 0, end = 0;
	if (size == 0)
		return 0;
	for (unsigned col = 0; row < f->height && col < f->width; col++) {
		const struct kiosk_cell *c = &f->cells[(size_t)row * f->width + col];
		if (n + c->len >= size)
			break;
		memcpy(buf + n, c->text, c->len);
		n += c->len;
		if (!(c->len == 1 && c->text[0] == ' '))
			end = n;
	}
	buf[end] = '\0';
	return end;
}

static void sgr(FILE *out, kiosk_style s)
{
	unsigned fg = s & 0xf, bg = (s >> 4) & 0xf;
	fputs("\033[0", out);
	if (s & KIOSK_BOLD)
		fputs(";1", out);
	if (s & KIOSK_DIM)
		fputs(";2", out);
	if (fg)
		fprintf(out, ";%u", 30 + fg - 1);
	if (bg)
		fprintf(out, ";%u", 40 + bg - 1);
	fputc('m', out);
}

void kiosk_frame_diff(const struct kiosk_frame *old, const struct kiosk_frame *new, FILE *out)
{
	bool all = !old || old->width != new->width || old->height != new->height;
	size_t w = new->width;
	for (unsigned row = 0; row < new->height; row++) {
		const struct kiosk_cell *cells = &new->cells[row * w];
		if (!all && !memcmp(cells, &old->cells[row * w], w * sizeof(*cells)))
			continue;
		fprintf(out, "\033[%u;1H", row + 1);
		for (size_t col = 0; col < w; col++) {
			if (col == 0 || cells[col].style != cells[col - 1].style)
				sgr(out, cells[col].style);
			fwrite(cells[col].text, 1, cells[col].len, out);
		}
		fputs("\033[0m", out);
	}
}

unsigned kiosk_text_width(const char *text)
{
	unsigned n = 0;
	uint32_t cp;
	while (*text) {
		text += next_char(text, &cp);
		n++;
	}
	return n;
}

size_t kiosk_text_prefix(const char *text, unsigned columns)
{
	const char *p = text;
	uint32_t cp;
	for (unsigned i = 0; i < columns && *p; i++)
		p += next_char(p, &cp);
	return (size_t)(p - text);
}
