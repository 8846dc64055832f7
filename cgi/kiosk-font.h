/* Big letters for the kiosk, readable across a room: a 5x7 pixel font drawn with the block
 * elements every console font has (upper half, lower half, full block), two pixel rows per
 * text row. At scale s each pixel is s columns wide and s pixel rows high. Letters are drawn
 * upper case; characters the font lacks are drawn as '?'. */
#pragma once

#include "kiosk-frame.h"

/* Columns and rows `text` takes at `scale` (1 or more). */
unsigned kiosk_font_width(const char *text, unsigned scale);
unsigned kiosk_font_height(unsigned scale);

/* Draws `text` with its top left corner at (row, col), clipped at the frame's edges. */
void kiosk_font_draw(struct kiosk_frame *f, unsigned row, unsigned col, const char *text, unsigned scale,
		     kiosk_style style);
