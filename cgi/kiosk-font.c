#include "kiosk-font.h"

#include <ctype.h>
#include <string.h>

#define GLYPH_W 5
#define GLYPH_H 7

/* Each glyph as its seven rows, top first, '#' for a lit pixel. */
/* clang-format off */
static const struct {
	char ch;
	const char *rows;
} glyphs[] = {
	{' ', "..... ..... ..... ..... ..... ..... ....."},
	{'A', ".###. #...# #...# ##### #...# #...# #...#"},
	{'B', "####. #...# #...# ####. #...# #...# ####."},
	{'C', ".###. #...# #.... #.... #.... #...# .###."},
	{'D', "####. #...# #...# #...# #...# #...# ####."},
	{'E', "##### #.... #.... ####. #.... #.... #####"},
	{'F', "##### #.... #.... ####. #.... #.... #...."},
	{'G', ".###. #...# #.... #.### #...# #...# .####"},
	{'H', "#...# #...# #...# ##### #...# #...# #...#"},
	{'I', ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###."},
	{'J', "..### ...#. ...#. ...#. ...#. #..#. .##.."},
	{'K', "#...# #..#. #.#.. ##... #.#.. #..#. #...#"},
	{'L', "#.... #.... #.... #.... #.... #.... #####"},
	{'M', "#...# ##.## #.#.# #.#.# #...# #...# #...#"},
	{'N', "#...# #...# ##..# #.#.# #..## #...# #...#"},
	{'O', ".###. #...# #...# #...# #...# #...# .###."},
	{'P', "####. #...# #...# ####. #.... #.... #...."},
	{'Q', ".###. #...# #...# #...# #.#.# #..#. .##.#"},
	{'R', "####. #...# #...# ####. #.#.. #..#. #...#"},
	{'S', ".#### #.... #.... .###. ....# ....# ####."},
	{'T', "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#.."},
	{'U', "#...# #...# #...# #...# #...# #...# .###."},
	{'V', "#...# #...# #...# #...# #...# .#.#. ..#.."},
	{'W', "#...# #...# #...# #.#.# #.#.# #.#.# .#.#."},
	{'X', "#...# #...# .#.#. ..#.. .#.#. #...# #...#"},
	{'Y', "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#.."},
	{'Z', "##### ....# ...#. ..#.. .#... #.... #####"},
	{'0', ".###. #...# #..## #.#.# ##..# #...# .###."},
	{'1', "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###."},
	{'2', ".###. #...# ....# ...#. ..#.. .#... #####"},
	{'3', "##### ...#. ..#.. ...#. ....# #...# .###."},
	{'4', "...#. ..##. .#.#. #..#. ##### ...#. ...#."},
	{'5', "##### #.... ####. ....# ....# #...# .###."},
	{'6', "..##. .#... #.... ####. #...# #...# .###."},
	{'7', "##### ....# ...#. ..#.. .#... .#... .#..."},
	{'8', ".###. #...# #...# .###. #...# #...# .###."},
	{'9', ".###. #...# #...# .#### ....# ...#. .##.."},
	{'%', "##... ##..# ...#. ..#.. .#... #..## ...##"},
	{'-', "..... ..... ..... ##### ..... ..... ....."},
	{'.', "..... ..... ..... ..... ..... .##.. .##.."},
	{':', "..... .##.. .##.. ..... .##.. .##.. ....."},
	{'!', "..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#.."},
	{'/', "....# ....# ...#. ..#.. .#... #.... #...."},
	{'?', ".###. #...# ....# ...#. ..#.. ..... ..#.."},
};
/* clang-format on */

static const char *glyph(char ch)
{
	char up = (char)toupper((unsigned char)ch);
	for (size_t i = 0; i < sizeof(glyphs) / sizeof(glyphs[0]); i++)
		if (glyphs[i].ch == up)
			return glyphs[i].rows;
	return glyph('?');
}

static bool lit(const char *rows, unsigned x, unsigned y)
{
	return x < GLYPH_W && y < GLYPH_H && rows[y * (GLYPH_W + 1) + x] == '#';
}

unsigned kiosk_font_width(const char *text, unsigned scale)
{
	size_t n = strlen(text);
	/* one blank pixel column between letters, none after the last */
	return n ? (unsigned)(n * (GLYPH_W + 1) - 1) * scale : 0;
}

unsigned kiosk_font_height(unsigned scale)
{
	return (GLYPH_H * scale + 1) / 2;
}

void kiosk_font_draw(struct kiosk_frame *f, unsigned row, unsigned col, const char *text, unsigned scale,
		     kiosk_style style)
{
	/* none, upper half, lower half, both */
	static const char *const blocks[4] = {" ", "\u2580", "\u2584", "\u2588"};
	unsigned rows = kiosk_font_height(scale);
	for (size_t i = 0; text[i]; i++) {
		const char *g = glyph(text[i]);
		unsigned x0 = col + (unsigned)i * (GLYPH_W + 1) * scale;
		for (unsigned r = 0; r < rows; r++)
			for (unsigned x = 0; x < GLYPH_W * scale; x++) {
				unsigned top = lit(g, x / scale, 2 * r / scale);
				unsigned bottom =
				    2 * r + 1 < GLYPH_H * scale && lit(g, x / scale, (2 * r + 1) / scale);
				if (top || bottom)
					kiosk_frame_fill(f, row + r, x0 + x, 1, blocks[top | bottom << 1],
							 style);
			}
	}
}
