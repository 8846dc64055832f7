/* The kiosk's screen as a grid of cells, drawn off-screen, and the escape sequences that take a
 * terminal from the frame it shows to the next one. Only rows that changed are written, each
 * in one piece and without clearing anything first, so the screen never flickers.
 *
 * Text put into a frame is sanitized: control characters (an escape sequence hidden in a
 * status message), and characters a console font may lack or draw two cells wide, become '?'
 * or a space. What a cell holds is always one column wide. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A cell's look: a foreground and a background colour (KIOSK_DEFAULT or one of the eight
 * ANSI colours) plus bold and dim. */
typedef uint16_t kiosk_style;

enum kiosk_color {
	KIOSK_DEFAULT = 0,
	KIOSK_BLACK,
	KIOSK_RED,
	KIOSK_GREEN,
	KIOSK_YELLOW,
	KIOSK_BLUE,
	KIOSK_MAGENTA,
	KIOSK_CYAN,
	KIOSK_WHITE,
};

#define KIOSK_FG(c) ((kiosk_style)(c))
#define KIOSK_BG(c) ((kiosk_style)((c) << 4))
#define KIOSK_BOLD ((kiosk_style)0x100)
#define KIOSK_DIM ((kiosk_style)0x200)

/* Frames are capped: a terminal that claims a larger size is drawn at this size. */
#define KIOSK_FRAME_MAX_WIDTH 512
#define KIOSK_FRAME_MAX_HEIGHT 256

struct kiosk_cell {
	char text[4]; /* one UTF-8 character, not NUL-terminated */
	uint8_t len;
	uint8_t unused; /* keeps the struct free of padding, so cells compare with memcmp */
	kiosk_style style;
};

struct kiosk_frame {
	unsigned width, height;
	struct kiosk_cell *cells;
};

/* Allocates a blank frame (sizes are capped at the maximum). Returns 0 or -ENOMEM. */
int kiosk_frame_init(struct kiosk_frame *f, unsigned width, unsigned height);
void kiosk_frame_free(struct kiosk_frame *f);

/* Blanks every cell. */
void kiosk_frame_clear(struct kiosk_frame *f);

/* Writes `text` from (row, col), clipped at the right edge; returns the columns written. */
unsigned kiosk_frame_put(struct kiosk_frame *f, unsigned row, unsigned col, const char *text,
			 kiosk_style style);

/* Writes `count` copies of the one character `ch` from (row, col), clipped. */
void kiosk_frame_fill(struct kiosk_frame *f, unsigned row, unsigned col, unsigned count, const char *ch,
		      kiosk_style style);

/* Gives `count` cells from (row, col) the style, keeping their characters (bars, highlights). */
void kiosk_frame_paint(struct kiosk_frame *f, unsigned row, unsigned col, unsigned count, kiosk_style style);

/* A row's characters as a NUL-terminated string without trailing blanks (what tests and the
 * plain-text mode read). Returns the string's length. */
size_t kiosk_frame_row_text(const struct kiosk_frame *f, unsigned row, char *buf, size_t size);

/* Writes the escape sequences that turn the screen from `old` into `new`: every row that
 * differs, positioned with the cursor and written whole. With `old` NULL (or of another size)
 * every row is written. Nothing is written when the frames are equal. */
void kiosk_frame_diff(const struct kiosk_frame *old, const struct kiosk_frame *new, FILE *out);

/* Columns a string takes once put into a frame (one per character). */
unsigned kiosk_text_width(const char *text);

/* The byte length of the first `columns` characters of `text` (all of it when shorter). */
size_t kiosk_text_prefix(const char *text, unsigned columns);
