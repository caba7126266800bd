/* Sum of tree ensemble leaf values for a block of rows: modelmill's compiled tree evaluator.
 *
 * Built by modelmill.registry.tree_kernel with the machine's C compiler at first use, then
 * cached. Why by hand: on the deep forests the pipeline ships (100 trees of depth 15),
 * scikit-learn, onnxruntime, treelite/tl2cgen and a numba port all spend 7-25 ns per node
 * visit, mostly on mispredicted branches and on a 64-byte node record. Here a node is 12
 * bytes, a tree's children sit side by side (right = left + 1), leaves loop on themselves
 * so every row takes exactly `depth` steps without a branch, and GROUP rows walk a tree at
 * once so their independent loads overlap: about 1.5 ns per visit on one core, 1.0 ns when
 * the block has no missing value left (mm_trees_sum_finite: the NaN test is a third of a step).
 *
 * Small trees (boosting: at most 64 leaves each) take a second road, mm_masks_sum: leaf
 * bitmasks (QuickScorer, Lucchese et al., SIGIR 2015), built by modelmill.registry.tree_masks.
 */
#include <stdint.h>

typedef struct {
    float threshold;    /* go right when x > threshold (x <= threshold: the ONNX true branch) */
    int32_t left;       /* the true child; the false child is left + 1; a leaf: itself */
    int32_t feature;    /* column of X; bit 31 set: a missing value (NaN) goes right */
} mm_node;

/* rows walking a tree together: 8 to 12 measured best on the course forest (2.1 us a row on one
 * core, 16 gave 2.6-2.9 and 32 gave 3.0; measured, not derived) */
#define GROUP 8

/* `finite`: no value of X is missing (modelmill.registry.tree_kernel replaces one by the
 * infinity that goes its way at every split on its column, when that is the same way at every
 * one), so the NaN test, a third of a step, is left out. A constant in both callers below. */
static inline __attribute__((always_inline)) int32_t step(const mm_node *nodes, int32_t k,
                                                          const float *row, const int finite) {
    mm_node q = nodes[k];
    float x = row[q.feature & 0x7fffffff];
    if (finite)
        return q.left + (x > q.threshold);
    int32_t right = (x > q.threshold) | (((uint32_t)q.feature >> 31) & (x != x));
    return q.left + right;
}

/* out[i] += value of the leaf row i reaches, summed over the trees; rows in blocks of
 * `block` so a tree's nodes stay in cache while the block walks it. */
static inline __attribute__((always_inline)) void walk(
    const float *X, int64_t rows, int64_t columns, const mm_node *nodes, const double *values,
    const int32_t *roots, const int32_t *depths, int64_t trees, int64_t block, double *out,
    const int finite)
{
    for (int64_t start = 0; start < rows; start += block) {
        int64_t end = start + block < rows ? start + block : rows;
        for (int64_t t = 0; t < trees; t++) {
            int32_t root = roots[t];
            int depth = depths[t];
            int64_t i = start;
            for (; i + GROUP <= end; i += GROUP) {
                int32_t at[GROUP];
                for (int g = 0; g < GROUP; g++) at[g] = root;
                for (int d = 0; d < depth; d++)
                    for (int g = 0; g < GROUP; g++)
                        at[g] = step(nodes, at[g], X + (i + g) * columns, finite);
                for (int g = 0; g < GROUP; g++) out[i + g] += values[at[g]];
            }
            for (; i < end; i++) {
                int32_t k = root;
                for (int d = 0; d < depth; d++) k = step(nodes, k, X + i * columns, finite);
                out[i] += values[k];
            }
        }
    }
}

void mm_trees_sum(const float *X, int64_t rows, int64_t columns, const mm_node *nodes,
                  const double *values, const int32_t *roots, const int32_t *depths,
                  int64_t trees, int64_t block, double *out)
{
    walk(X, rows, columns, nodes, values, roots, depths, trees, block, out, 0);
}

void mm_trees_sum_finite(const float *X, int64_t rows, int64_t columns, const mm_node *nodes,
                         const double *values, const int32_t *roots, const int32_t *depths,
                         int64_t trees, int64_t block, double *out)
{
    walk(X, rows, columns, nodes, values, roots, depths, trees, block, out, 1);
}

/* out[i] += the sum over trees of the leaf row i reaches, found without walking: a tree's
 * leaves are numbered left to right and a row starts with all of them alive (one bit each);
 * every split the row goes right at kills the leaves of its left (true) subtree, and the
 * row's leaf is the lowest bit left. The splits of all trees are listed by feature, each
 * feature's sorted by threshold, so a row reads a feature once and stops at the first
 * threshold its value does not exceed: no dependent loads, no mispredicted tree walk. Most
 * TF-IDF columns are 0 and below every threshold, so a row does little work on them.
 * On the tuned boosting model (150 trees of up to 31 leaves, 179 columns): 1.3 us a row on
 * one core, against 3.3-4.2 for the full-depth walk above. `live` is `trees` words of scratch. */
void mm_masks_sum(const float *X, int64_t rows, int64_t stride, int64_t features,
                  const int64_t *offsets, const float *thresholds, const int32_t *tree_of,
                  const uint64_t *kills, const uint8_t *nan_right, const int64_t *leaf_first,
                  const double *leaf_values, int64_t trees, uint64_t *live, double *out)
{
    for (int64_t i = 0; i < rows; i++) {
        const float *row = X + i * stride;
        for (int64_t t = 0; t < trees; t++) live[t] = ~(uint64_t)0;
        for (int64_t f = 0; f < features; f++) {
            float x = row[f];
            int64_t k = offsets[f], end = offsets[f + 1];
            if (x != x) {  /* missing: right exactly where the split sends missing values right */
                for (; k < end; k++)
                    if (nan_right[k]) live[tree_of[k]] &= kills[k];
                continue;
            }
            for (; k < end && x > thresholds[k]; k++) live[tree_of[k]] &= kills[k];
        }
        double sum = 0.0;  /* tree by tree, as mm_trees_sum adds them: the same rounding */
        for (int64_t t = 0; t < trees; t++) sum += leaf_values[leaf_first[t] + __builtin_ctzll(live[t])];
        out[i] += sum;
    }
}
