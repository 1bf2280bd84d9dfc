/* exp/tables.h: an experiment's results, gathered from its evals' report.json files
 * (eval/report.h) into the layout of the paper's tables (shared: CADA.md, Tables 3
 * and 4).
 *
 * Cells: for each method, benchmark and attack, one value per seed:
 *   harmful benchmark: attack success rate, % (the k-th set of the eval's report is the
 *                      k-th benchmark the eval was given: attacks none, all of them;
 *                      other attacks, the harmful ones), and the rubric's mean score
 *                      when the eval ran the rubric
 *   benign benchmark:  non-refusal rate, % (attack none only)
 *   every method:      format rate, % (well-formed Analysis + Final Response over all
 *                      prompts of its attack-none eval)
 * mean and sample standard deviation (n - 1; "-" with one seed) over the seeds whose
 * report exists; a cell shows how many seeds it has when some are missing.
 *
 * Writes into the experiment's out_dir:
 *   results.json  every cell with its per-seed values (null: missing), mean, std, n
 *   tables.md     Table 3 layout (methods x benchmark / attack ASR, mean +- std),
 *                 Table 4 layout (non-refusal on benign benchmarks, format rate)
 *   asr.svg       grouped bars: per benchmark and attack, a bar per method, whiskers
 *                 of one standard deviation */
#ifndef CADA_EXP_TABLES_H
#define CADA_EXP_TABLES_H

#include "exp/experiment.h"

typedef struct {
    int reports_found, reports_missing;
} cada_exp_tables_summary;

/* Errors: a report.json that exists but does not parse or lacks the sets it should
 * have (names the file); files that cannot be written. Missing reports are not errors
 * (an experiment in progress has tables too). */
cada_status cada_exp_tables(const cada_experiment *x, cada_exp_tables_summary *sum);

#endif
