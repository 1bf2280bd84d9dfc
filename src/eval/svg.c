/* eval/svg.c: see svg.h. */
#include "eval/svg.h"

#include <math.h>
#include <string.h>

cada_status cada_svg_escaped(cada_str *o, const char *text) {
    for (const char *p = text; *p; p++) {
        const char *rep = *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;" : *p == '"' ? "&quot;" : NULL;
        CADA_TRY(rep ? cada_str_puts(o, rep) : cada_str_append(o, p, 1));
    }
    return CADA_OK;
}

cada_status cada_svg_begin(cada_str *o, int width, int height, int title_x, const char *title) {
    CADA_TRY(cada_str_printf(o,
                             "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                             "font-family=\"sans-serif\" font-size=\"11\">\n"
                             "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
                             "<text x=\"%d\" y=\"20\" font-size=\"14\" font-weight=\"bold\">",
                             width, height, width, height, title_x));
    CADA_TRY(cada_svg_escaped(o, title));
    return cada_str_puts(o, "</text>\n");
}

cada_status cada_svg_end(cada_str *o) { return cada_str_puts(o, "</svg>\n"); }

/* 1, 2 or 5 x 10^k, the smallest such step that cuts range into at most `target`. */
static double nice_step(double range, int target) {
    double raw = range / target;
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

/* A tick label: values within a rounding error of zero print as 0. */
static cada_status tick_label(cada_str *o, double v, double step) {
    if (fabs(v) < step * 1e-9) v = 0;
    return cada_str_printf(o, "%.6g", v);
}

static void widen(double *lo, double *hi, double v) {
    if (!isfinite(v)) return;
    if (v < *lo) *lo = v;
    if (v > *hi) *hi = v;
}

enum { W = 640, H = 320, LEFT = 72, RIGHT = 24, TOP = 48, BOTTOM = 48 };

typedef struct {
    double xmin, xmax, ylo, yhi;
} frame;

static double px(const frame *f, double x) { return LEFT + (x - f->xmin) / (f->xmax - f->xmin) * (W - LEFT - RIGHT); }
static double py(const frame *f, double y) { return (H - BOTTOM) - (y - f->ylo) / (f->yhi - f->ylo) * (H - BOTTOM - TOP); }

static cada_status axes(cada_str *o, const cada_svg_line_chart *c, frame *f) {
    /* y: ticks from a nice step, range snapped to it */
    double ystep = nice_step(f->yhi - f->ylo, 5);
    f->ylo = floor(f->ylo / ystep + 1e-9) * ystep;
    f->yhi = ceil(f->yhi / ystep - 1e-9) * ystep;
    for (int k = 0;; k++) {
        double v = f->ylo + k * ystep;
        if (v > f->yhi + ystep * 1e-6) break;
        double y = py(f, v);
        CADA_TRY(cada_str_printf(o, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>"
                                    "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">",
                                 LEFT, y, W - RIGHT, y, LEFT - 6, y + 4));
        CADA_TRY(tick_label(o, v, ystep));
        CADA_TRY(cada_str_puts(o, "</text>\n"));
    }
    /* x: whole steps */
    double xstep = nice_step(f->xmax - f->xmin, 8);
    if (xstep < 1) xstep = 1;
    for (double v = ceil(f->xmin / xstep) * xstep; v <= f->xmax + 1e-9; v += xstep) {
        double x = px(f, v);
        CADA_TRY(cada_str_printf(o, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#333\"/>"
                                    "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">",
                                 x, H - BOTTOM, x, H - BOTTOM + 5, x, H - BOTTOM + 18));
        CADA_TRY(tick_label(o, v, xstep));
        CADA_TRY(cada_str_puts(o, "</text>\n"));
    }
    /* a path, not a polyline: polylines are the data alone */
    CADA_TRY(cada_str_printf(o, "<path d=\"M%d,%d V%d H%d\" fill=\"none\" stroke=\"#333\"/>\n", LEFT, TOP, H - BOTTOM,
                             W - RIGHT));
    CADA_TRY(cada_str_printf(o, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", (LEFT + W - RIGHT) / 2, H - 10));
    CADA_TRY(cada_svg_escaped(o, c->x_label ? c->x_label : ""));
    CADA_TRY(cada_str_printf(o, "</text>\n<text x=\"16\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 16 %d)\">",
                             (TOP + H - BOTTOM) / 2, (TOP + H - BOTTOM) / 2));
    CADA_TRY(cada_svg_escaped(o, c->y_label ? c->y_label : ""));
    return cada_str_puts(o, "</text>\n");
}

static int finite_at(const cada_svg_series *s, int i, int band) {
    if (!isfinite(s->y[i])) return 0;
    return !band || (isfinite(s->lo[i]) && isfinite(s->hi[i]));
}

/* The next run [*a, *b) of points, from *a on, where the series (and its band, when
 * band) is finite; 0 when none is left. */
static int next_run(const cada_svg_line_chart *c, const cada_svg_series *s, int band, int *a, int *b) {
    while (*a < c->n && !finite_at(s, *a, band)) (*a)++;
    if (*a >= c->n) return 0;
    for (*b = *a; *b < c->n && finite_at(s, *b, band);) (*b)++;
    return 1;
}

/* The band of one series: a polygon per run of points where y, lo and hi are finite. */
static cada_status band(cada_str *o, const cada_svg_line_chart *c, const cada_svg_series *s, const frame *f) {
    for (int a = 0, b; next_run(c, s, 1, &a, &b); a = b) {
        CADA_TRY(cada_str_printf(o, "<polygon fill=\"%s\" fill-opacity=\"0.18\" stroke=\"none\" points=\"", s->color));
        for (int i = a; i < b; i++) CADA_TRY(cada_str_printf(o, "%.1f,%.1f ", px(f, c->x[i]), py(f, s->hi[i])));
        for (int i = b - 1; i >= a; i--) CADA_TRY(cada_str_printf(o, "%.1f,%.1f ", px(f, c->x[i]), py(f, s->lo[i])));
        CADA_TRY(cada_str_puts(o, "\"/>\n"));
    }
    return CADA_OK;
}

/* The line of one series: a polyline per run of finite values, then the markers. */
static cada_status line(cada_str *o, const cada_svg_line_chart *c, const cada_svg_series *s, const frame *f) {
    for (int a = 0, b; next_run(c, s, 0, &a, &b); a = b) {
        CADA_TRY(cada_str_printf(o, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\" points=\"", s->color));
        for (int i = a; i < b; i++) CADA_TRY(cada_str_printf(o, "%s%.1f,%.1f", i > a ? " " : "", px(f, c->x[i]), py(f, s->y[i])));
        CADA_TRY(cada_str_puts(o, "\"/>\n"));
    }
    if (c->n > 200) return CADA_OK; /* markers would hide the line */
    for (int i = 0; i < c->n; i++) {
        if (!finite_at(s, i, 0)) continue;
        CADA_TRY(cada_str_printf(o, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"><title>", px(f, c->x[i]),
                                 py(f, s->y[i]), s->color));
        CADA_TRY(cada_svg_escaped(o, s->name));
        CADA_TRY(cada_str_printf(o, " at %.6g: %.6g</title></circle>\n", c->x[i], s->y[i]));
    }
    return CADA_OK;
}

static cada_status legend(cada_str *o, const cada_svg_line_chart *c) {
    double x = LEFT;
    for (int s = 0; s < c->n_series; s++) {
        const cada_svg_series *r = &c->series[s];
        CADA_TRY(cada_str_printf(o, "<line x1=\"%.0f\" y1=\"33\" x2=\"%.0f\" y2=\"33\" stroke=\"%s\" stroke-width=\"3\"/>"
                                    "<text x=\"%.0f\" y=\"37\">",
                                 x, x + 16, r->color, x + 20));
        CADA_TRY(cada_svg_escaped(o, r->name));
        CADA_TRY(cada_str_puts(o, "</text>\n"));
        x += 36 + 6.5 * (double)strlen(r->name);
    }
    return CADA_OK;
}

cada_status cada_svg_line_chart_write(cada_str *o, const cada_svg_line_chart *c) {
    if (c->n < 1 || c->n_series < 1)
        return CADA_ERR(CADA_ERR_ARG, "svg chart '%s': %d points and %d series (need at least one of each)",
                        c->title ? c->title : "", c->n, c->n_series);
    frame f = {c->x[0], c->x[c->n - 1], INFINITY, -INFINITY};
    for (int s = 0; s < c->n_series; s++)
        for (int i = 0; i < c->n; i++) {
            const cada_svg_series *r = &c->series[s];
            widen(&f.ylo, &f.yhi, r->y[i]);
            if (r->lo && r->hi && isfinite(r->y[i])) {
                widen(&f.ylo, &f.yhi, r->lo[i]);
                widen(&f.ylo, &f.yhi, r->hi[i]);
            }
        }
    int any = f.ylo <= f.yhi;
    if (!any) f.ylo = f.yhi = 0;
    if (c->y_from_zero) widen(&f.ylo, &f.yhi, 0);
    if (c->y_floor < c->y_ceil) {
        widen(&f.ylo, &f.yhi, c->y_floor);
        widen(&f.ylo, &f.yhi, c->y_ceil);
    }
    if (f.yhi - f.ylo < 1e-12 * fmax(1, fabs(f.yhi))) { /* a flat series: centre it */
        double d = f.yhi != 0 ? fabs(f.yhi) * 0.1 : 1;
        f.ylo -= d;
        f.yhi += d;
        if (c->y_from_zero && f.ylo < 0 && f.yhi - d >= 0) f.ylo = 0;
    }
    if (f.xmax <= f.xmin) { /* one step */
        f.xmin -= 1;
        f.xmax += 1;
    }
    CADA_TRY(cada_svg_begin(o, W, H, LEFT, c->title ? c->title : ""));
    CADA_TRY(axes(o, c, &f));
    if (c->n_series > 1 || c->series[0].lo) CADA_TRY(legend(o, c));
    for (int s = 0; s < c->n_series; s++)
        if (c->series[s].lo && c->series[s].hi) CADA_TRY(band(o, c, &c->series[s], &f));
    for (int s = 0; s < c->n_series; s++) CADA_TRY(line(o, c, &c->series[s], &f));
    if (!any)
        CADA_TRY(cada_str_printf(o, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#999\">no values</text>\n",
                                 (LEFT + W - RIGHT) / 2, (TOP + H - BOTTOM) / 2));
    return cada_svg_end(o);
}

cada_status cada_svg_bar_chart_write(cada_str *o, const cada_svg_bar_chart *c) {
    if (c->n_groups < 1 || c->n_series < 1 || !(c->y_max > 0))
        return CADA_ERR(CADA_ERR_ARG, "bar chart: %d groups, %d series, y max %g", c->n_groups, c->n_series, c->y_max);
    const int left = 64, top = 70, plot_h = 240, bar_w = 16, pad = 18, bottom = 130;
    const int group_w = c->n_series * bar_w + pad;
    int width = left + c->n_groups * group_w + 30, legend_w = 0;
    for (int s = 0; s < c->n_series; s++) legend_w += 28 + 7 * (int)strlen(c->series_names[s]);
    if (width < left + legend_w + 30) width = left + legend_w + 30;
    CADA_TRY(cada_svg_begin(o, width, top + plot_h + bottom, left, c->title));
    for (int s = 0, x = left; s < c->n_series; s++) { /* legend */
        CADA_TRY(cada_str_printf(o, "<rect x=\"%d\" y=\"32\" width=\"12\" height=\"12\" fill=\"%s\"/><text x=\"%d\" y=\"42\">", x,
                                 c->colors[s], x + 16));
        CADA_TRY(cada_svg_escaped(o, c->series_names[s]));
        CADA_TRY(cada_str_puts(o, "</text>\n"));
        x += 28 + 7 * (int)strlen(c->series_names[s]);
    }
    for (int g = 0; g <= 4; g++) { /* grid */
        int y = top + plot_h - g * plot_h / 4;
        CADA_TRY(cada_str_printf(o, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ddd\"/><text x=\"%d\" y=\"%d\" "
                                    "text-anchor=\"end\">%.6g</text>\n",
                                 left, y, width - 20, y, left - 6, y + 4, c->y_max * g / 4));
    }
    CADA_TRY(cada_str_printf(o, "<text x=\"14\" y=\"%d\" transform=\"rotate(-90 14 %d)\" text-anchor=\"middle\">",
                             top + plot_h / 2, top + plot_h / 2));
    CADA_TRY(cada_svg_escaped(o, c->y_label ? c->y_label : ""));
    CADA_TRY(cada_str_puts(o, "</text>\n"));
    for (int g = 0; g < c->n_groups; g++) {
        int x0 = left + g * group_w + pad / 2;
        for (int s = 0; s < c->n_series; s++) {
            double v = c->value[g * c->n_series + s], e = c->err ? c->err[g * c->n_series + s] : NAN;
            int x = x0 + s * bar_w;
            if (!isfinite(v)) {
                CADA_TRY(cada_str_printf(o, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#999\">-</text>\n", x + bar_w / 2,
                                         top + plot_h - 4));
                continue;
            }
            double f = v / c->y_max;
            f = f < 0 ? 0 : f > 1 ? 1 : f;
            int h = (int)lround(f * plot_h);
            CADA_TRY(cada_str_printf(o, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"><title>%.4g</title></rect>\n",
                                     x, top + plot_h - h, bar_w - 2, h, c->colors[s], v));
            if (isfinite(e) && e > 0) {
                double lo = (v - e) / c->y_max, hi = (v + e) / c->y_max;
                lo = lo < 0 ? 0 : lo;
                hi = hi > 1 ? 1 : hi;
                int xm = x + bar_w / 2 - 1;
                CADA_TRY(cada_str_printf(o, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#222\"/>\n", xm,
                                         top + plot_h - lo * plot_h, xm, top + plot_h - hi * plot_h));
            }
        }
        int lx = x0 + c->n_series * bar_w / 2, ly = top + plot_h + 14;
        CADA_TRY(cada_str_printf(o, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" transform=\"rotate(-35 %d %d)\">", lx, ly, lx, ly));
        CADA_TRY(cada_svg_escaped(o, c->group_names[g]));
        CADA_TRY(cada_str_puts(o, "</text>\n"));
    }
    CADA_TRY(cada_str_printf(o, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>\n", left, top, left, top + plot_h));
    return cada_svg_end(o);
}
