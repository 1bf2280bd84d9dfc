/* eval/svg.h: self-contained SVG charts written as text (no plotting library), for the
 * reports of `cada eval` (eval/report.h: bars) and `cada report` (eval/train_report.h:
 * lines over training steps). Every function appends to a cada_str; text that comes
 * from data (titles, names) is XML-escaped. */
#ifndef CADA_EVAL_SVG_H
#define CADA_EVAL_SVG_H

#include "cada/text.h"

/* Opens an SVG document of width x height pixels on a white background, with the
 * title in bold at the top left (x = title_x). Close it with cada_svg_end. */
cada_status cada_svg_begin(cada_str *o, int width, int height, int title_x, const char *title);
cada_status cada_svg_end(cada_str *o);
/* Appends text with &, <, >, " escaped. */
cada_status cada_svg_escaped(cada_str *o, const char *text);

typedef struct {
    const char *name;      /* legend text */
    const char *color;     /* any SVG colour ("#2c7fb8") */
    const double *y;       /* (n) NaN: no value at that step (the line breaks there) */
    const double *lo, *hi; /* (n) a shaded band from lo to hi, or both NULL */
} cada_svg_series;

typedef struct {
    const char *title, *x_label, *y_label;
    int n;                         /* points per series, >= 1 */
    const double *x;               /* (n) increasing */
    const cada_svg_series *series; /* (n_series) */
    int n_series;
    int y_from_zero;               /* keep 0 inside the y range (rates, times, counts) */
    double y_floor, y_ceil;        /* the y range at least covers [y_floor, y_ceil] when y_floor < y_ceil */
} cada_svg_line_chart;

/* A whole SVG document: axes with "nice" ticks (1, 2 or 5 x 10^k) and their labels, a
 * light grid, a legend when there are several series, each series as polylines (one
 * point per finite value, split at NaN) with point markers and its optional band.
 * A chart with no finite value says so in place of the lines. Errors: n < 1, n_series < 1. */
cada_status cada_svg_line_chart_write(cada_str *o, const cada_svg_line_chart *c);

/* Grouped bars with whiskers: n_groups groups along x (their names under them, turned),
 * n_series bars in each (legend at the top), y from 0 to y_max with a grid of 4 steps.
 * value[g * n_series + s] is bar s of group g (NaN: no bar, a "-"), err the same
 * layout of half-widths drawn as whiskers (NULL: none; NaN or 0: none for that bar).
 * Errors: n_groups < 1, n_series < 1, y_max <= 0. */
typedef struct {
    const char *title, *y_label;
    int n_groups, n_series;
    const char *const *group_names;  /* (n_groups) */
    const char *const *series_names; /* (n_series) */
    const char *const *colors;       /* (n_series) */
    const double *value, *err;       /* (n_groups * n_series) */
    double y_max;
} cada_svg_bar_chart;
cada_status cada_svg_bar_chart_write(cada_str *o, const cada_svg_bar_chart *c);

#endif
