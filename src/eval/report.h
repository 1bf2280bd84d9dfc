/* eval/report.h: an evaluation's reports: JSON (for programs), Markdown (for people)
 * and an SVG bar chart (attack success rate and benign non-refusal rate per hazard
 * category), written by hand: no plotting library. Files are written under temporary
 * names and renamed. */
#ifndef CADA_EVAL_REPORT_H
#define CADA_EVAL_REPORT_H

#include "cada/text.h"
#include "eval/metrics.h"

cada_status cada_eval_report_json(const cada_eval_report *r, cada_str *out);
cada_status cada_eval_report_markdown(const cada_eval_report *r, cada_str *out);
/* Per category of the whole evaluation; categories with no prompt are left out. */
cada_status cada_eval_report_svg(const cada_eval_report *r, cada_str *out);

/* Writes dir/report.json, dir/report.md and dir/report.svg. */
cada_status cada_eval_report_write(const cada_eval_report *r, const char *dir);

#endif
