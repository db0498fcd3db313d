/* check/report.c - findings of smtpsctl check: add, sort, print */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "util/err.h"
#include "util/xmalloc.h"

/* A reason or fix is one line of at most this many bytes (ours). */
#define CHECK_LINE_MAX	400

static const char *const grade_names[] = {
	[CHECK_PASS] = "pass",
	[CHECK_INFO] = "info",
	[CHECK_WARN] = "warn",
	[CHECK_FAIL] = "fail",
	[CHECK_UNKNOWN] = "unknown",
};

/* check_grade_str - the grade's name */
const char *
check_grade_str(enum check_grade g)
{
	if ((unsigned)g >= sizeof(grade_names) / sizeof(grade_names[0]))
		return "unknown";
	return grade_names[g];
}

/* check_report_init - an empty report */
void
check_report_init(struct check_report *r, const char *domain)
{
	memset(r, 0, sizeof(*r));
	r->domain = xstrdup(domain);
}

/* check_report_fini - free every finding */
void
check_report_fini(struct check_report *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		free(r->f[i].area);
		free(r->f[i].reason);
		free(r->f[i].fix);
	}
	free(r->f);
	free(r->domain);
	memset(r, 0, sizeof(*r));
}

/* one_line - a heap copy of s made printable: control bytes and bytes
   above 0x7e become '?', so peer text cannot break the table */
static char *
one_line(const char *s)
{
	size_t i, n = strlen(s);
	char *o;

	if (n > CHECK_LINE_MAX)
		n = CHECK_LINE_MAX;
	o = xstrndup(s, n);
	for (i = 0; i < n; i++)
		if ((unsigned char)o[i] < 0x20 || (unsigned char)o[i] > 0x7e)
			o[i] = '?';
	return o;
}

/* check_report_add - append one finding */
void
check_report_add(struct check_report *r, const char *area,
    enum check_grade g, const char *fix, const char *fmt, ...)
{
	struct check_finding *f;
	char line[CHECK_LINE_MAX + 1];
	va_list ap;

	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		r->f = xrealloc(r->f, r->cap * sizeof(*r->f));
	}
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	f = &r->f[r->n++];
	f->area = one_line(area);
	f->grade = g;
	f->reason = one_line(line);
	f->fix = one_line(fix ? fix : "");
}

/* severity - the sort order: could-not-evaluate sits with fail */
static int
severity(enum check_grade g)
{
	static const int rank[] = {
		[CHECK_PASS] = 0, [CHECK_INFO] = 1, [CHECK_WARN] = 2,
		[CHECK_UNKNOWN] = 3, [CHECK_FAIL] = 4,
	};

	return (unsigned)g < sizeof(rank) / sizeof(rank[0]) ? rank[g] : 3;
}

/* check_report_sort - worst first, stable (insertion sort: a report
   holds tens of findings) */
void
check_report_sort(struct check_report *r)
{
	size_t i, j;
	struct check_finding t;

	for (i = 1; i < r->n; i++) {
		t = r->f[i];
		for (j = i; j > 0 && severity(r->f[j - 1].grade) <
		    severity(t.grade); j--)
			r->f[j] = r->f[j - 1];
		r->f[j] = t;
	}
}

/* check_report_exit - the process exit status for the report */
int
check_report_exit(const struct check_report *r)
{
	bool warn = false, fail = false, unknown = false;
	size_t i;

	for (i = 0; i < r->n; i++) {
		warn |= r->f[i].grade == CHECK_WARN;
		fail |= r->f[i].grade == CHECK_FAIL;
		unknown |= r->f[i].grade == CHECK_UNKNOWN;
	}
	if (unknown)
		return 3;
	return fail ? 2 : warn ? 1 : 0;
}

/* summary - "2 fail, 1 warn, 7 pass" */
static void
summary(const struct check_report *r, struct buf *out)
{
	size_t count[CHECK_UNKNOWN + 1] = { 0 }, i;
	static const enum check_grade order[] = { CHECK_FAIL, CHECK_UNKNOWN,
	    CHECK_WARN, CHECK_INFO, CHECK_PASS };
	bool first = true;

	for (i = 0; i < r->n; i++)
		count[r->f[i].grade]++;
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (count[order[i]] == 0)
			continue;
		buf_printf(out, "%s%zu %s", first ? "" : ", ",
		    count[order[i]], check_grade_str(order[i]));
		first = false;
	}
	if (first)
		buf_append_str(out, "no findings");
}

/* check_report_table - GRADE AREA REASON, with the fix below */
int
check_report_table(const struct check_report *r, struct buf *out)
{
	size_t i, w = 4;
	int rc = 0;

	for (i = 0; i < r->n; i++)
		if (strlen(r->f[i].area) > w)
			w = strlen(r->f[i].area);
	if (w > 40)
		w = 40;
	buf_printf(out, "smtpsctl check %s: ", r->domain);
	summary(r, out);
	buf_append_str(out, "\n\n");
	buf_printf(out, "%-7s %-*s %s\n", "GRADE", (int)w, "AREA", "FINDING");
	for (i = 0; i < r->n; i++) {
		const struct check_finding *f = &r->f[i];

		rc = buf_printf(out, "%-7s %-*s %s\n", check_grade_str(f->grade),
		    (int)w, f->area, f->reason);
		if (rc == 0 && *f->fix && f->grade != CHECK_PASS)
			rc = buf_printf(out, "%-7s %-*s   fix: %s\n", "",
			    (int)w, "", f->fix);
		if (rc != 0)
			break;
	}
	return rc;
}

/* json_str - append s as a JSON string (our text is printable ASCII,
   but escape fully anyway) */
static void
json_str(struct buf *out, const char *s)
{
	buf_append(out, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			buf_printf(out, "\\%c", c);
		else if (c < 0x20 || c > 0x7e)
			buf_printf(out, "\\u%04x", c);
		else
			buf_append(out, s, 1);
	}
	buf_append(out, "\"", 1);
}

/* check_report_json - the same facts for programs */
int
check_report_json(const struct check_report *r, struct buf *out)
{
	static const char *const status[] = { "pass", "warn", "fail",
	    "unknown" };
	struct buf s;
	size_t i;

	buf_append_str(out, "{\"domain\":");
	json_str(out, r->domain);
	buf_printf(out, ",\"status\":\"%s\",\"exit\":%d,\"summary\":",
	    status[check_report_exit(r)], check_report_exit(r));
	buf_init(&s, 256);
	summary(r, &s);
	json_str(out, buf_cstr(&s));
	buf_fini(&s);
	buf_append_str(out, ",\"findings\":[");
	for (i = 0; i < r->n; i++) {
		buf_append_str(out, i ? ",{\"area\":" : "{\"area\":");
		json_str(out, r->f[i].area);
		buf_printf(out, ",\"grade\":\"%s\",\"reason\":",
		    check_grade_str(r->f[i].grade));
		json_str(out, r->f[i].reason);
		buf_append_str(out, ",\"fix\":");
		json_str(out, r->f[i].fix);
		buf_append(out, "}", 1);
	}
	return buf_append_str(out, "]}\n");
}
