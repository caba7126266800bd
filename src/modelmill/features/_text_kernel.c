/* modelmill's compiled text kernels, built by modelmill.core.native at first use and called
 * through modelmill.features.text_kernel: tokens and ISO dates of Arrow string arrays.
 *
 * mm_token_ids: vocabulary indexes of the tokens of ASCII texts, as scikit-learn's default
 * token pattern (?u)\b\w\w+\b finds them. On ASCII,
 * Python's \w is exactly [0-9A-Za-z_] and str.lower exactly the ASCII lowering, so a token
 * is a run of two or more word bytes and the result is sklearn's. One pass over the bytes
 * finds, lowers and looks up each token in an open-addressing table of the vocabulary:
 * about 0.16 us a listing name (37 bytes), against 0.56 for the same steps as numpy and Arrow passes.
 * A text with any byte above 127 is flagged, its tokens dropped, and left to Python's re
 * (accents, CJK, emoji).
 */
#include <stdint.h>
#include <string.h>

static uint64_t fnv1a(const uint8_t *s, int64_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (int64_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ULL;
    return h;
}

/* WORD[c]: 1 for a word byte ([0-9A-Za-z_]), 2 for a byte above 127 (the text is not ASCII),
 * 0 otherwise. Filled by mm_vocabulary, which every caller runs before mm_token_ids. */
static uint8_t WORD[256];

static void init_classes(void) {
    for (int c = 0; c < 256; c++)
        WORD[c] = c > 127 ? 2 : ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_');
}

/* table[slots] (a power of two, at least twice the terms): each slot -1 or a term's index.
 * A term met twice keeps its first index (a vocabulary has no duplicates anyway). */
void mm_vocabulary(const uint8_t *term_data, const int64_t *term_bounds, int64_t terms,
                   int32_t *table, int64_t slots)
{
    init_classes();
    for (int64_t s = 0; s < slots; s++) table[s] = -1;
    for (int64_t t = 0; t < terms; t++) {
        const uint8_t *term = term_data + term_bounds[t];
        int64_t n = term_bounds[t + 1] - term_bounds[t];
        uint64_t s = fnv1a(term, n) & (uint64_t)(slots - 1);
        for (;; s = (s + 1) & (uint64_t)(slots - 1)) {
            int32_t at = table[s];
            if (at < 0) { table[s] = (int32_t)t; break; }
            if (term_bounds[at + 1] - term_bounds[at] == n && !memcmp(term_data + term_bounds[at], term, n)) break;
        }
    }
}

static int32_t lookup(const uint8_t *token, int64_t n, const uint8_t *term_data,
                      const int64_t *term_bounds, const int32_t *table, int64_t slots)
{
    for (uint64_t s = fnv1a(token, n) & (uint64_t)(slots - 1);; s = (s + 1) & (uint64_t)(slots - 1)) {
        int32_t at = table[s];
        if (at < 0) return -1;
        if (term_bounds[at + 1] - term_bounds[at] == n && !memcmp(term_data + term_bounds[at], token, n))
            return at;
    }
}

/* For each text i (bytes data[bounds[i]:bounds[i + 1]]): row_out/id_out get (i, index) of
 * every token found in the vocabulary, texts in order; unicode[i] = 1 for a text with a
 * non-ASCII byte (not tokenized here). Returns the pairs written; the caller sizes the
 * outputs for the most a text can hold ((bytes + 1) / 3 tokens each). Tokens longer than
 * the longest term (`longest`) cannot be in the vocabulary and are skipped unread. */
int64_t mm_token_ids(const int32_t *bounds, const uint8_t *data, int64_t rows, int lowercase,
                     const uint8_t *term_data, const int64_t *term_bounds, const int32_t *table,
                     int64_t slots, int64_t longest, int64_t *row_out, int64_t *id_out,
                     uint8_t *unicode)
{
    uint8_t token[256];
    int64_t found = 0;
    for (int64_t i = 0; i < rows; i++) {
        const uint8_t *text = data + bounds[i];
        int64_t n = bounds[i + 1] - bounds[i], k = 0, first = found;
        unicode[i] = 0;
        while (k < n) {
            uint8_t kind = WORD[text[k]];
            if (kind != 1) {
                if (kind == 2) break;
                k++;
                continue;
            }
            int64_t start = k;
            while (k < n && WORD[text[k]] == 1) k++;
            int64_t length = k - start;
            if (length < 2 || length > longest || length > (int64_t)sizeof token) continue;
            for (int64_t j = 0; j < length; j++) {
                uint8_t c = text[start + j];
                token[j] = lowercase && c >= 'A' && c <= 'Z' ? c + 32 : c;
            }
            int32_t at = lookup(token, length, term_data, term_bounds, table, slots);
            if (at >= 0) { row_out[found] = i; id_out[found] = at; found++; }
        }
        if (k < n && WORD[text[k]] == 2) {  /* not ASCII: Python's re tokenizes it, none kept here */
            unicode[i] = 1;
            found = first;
        }
    }
    return found;
}

/* days from 1970-01-01 to a proleptic Gregorian date (the usual shift to a March-based year:
 * February's length then only matters at a year's end) */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int digits(const uint8_t *s, int n, int64_t *value) {
    int64_t v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (s[i] - '0');
    }
    *value = v;
    return 1;
}

/* days[i]: days from 1970-01-01 of text i when it is exactly YYYY-MM-DD, a real date of the
 * years 1678-2261 (inside pandas' nanosecond range), and ok[i] = 1; any other text gets
 * ok[i] = 0 and is left to pandas (other formats, whitespace, times, impossible dates). */
void mm_iso_days(const int32_t *bounds, const uint8_t *data, int64_t rows, double *days, uint8_t *ok)
{
    static const int64_t month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    for (int64_t i = 0; i < rows; i++) {
        const uint8_t *s = data + bounds[i];
        int64_t y, m, d;
        ok[i] = 0;
        if (bounds[i + 1] - bounds[i] != 10 || s[4] != '-' || s[7] != '-') continue;
        if (!digits(s, 4, &y) || !digits(s + 5, 2, &m) || !digits(s + 8, 2, &d)) continue;
        if (y < 1678 || y > 2261 || m < 1 || m > 12 || d < 1) continue;
        int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        if (d > month_days[m - 1] + (m == 2 && leap)) continue;
        days[i] = (double)days_from_civil(y, m, d);
        ok[i] = 1;
    }
}
