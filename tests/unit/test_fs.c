/* tests/unit/test_fs.c: cada_rm_rf (base/fs.h) on real trees in the scratch folder:
 * nested folders, hidden files, links to things outside the tree that must survive,
 * missing paths, refused paths and the error message of a path that cannot be walked. */
#define _POSIX_C_SOURCE 200809L
#include "test.h"

#include "base/error.h"
#include "base/fs.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* snprintf into a caller's buffer, for the many paths below. */
static const char *path_of(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static const char *path_of(char *buf, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return buf;
}

static int write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return 0;
    int ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}

static int file_has(const char *path, const char *text) {
    char buf[64] = {0};
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    return n == strlen(text) && !memcmp(buf, text, n);
}

static int exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

TEST(fs_rm_rf_removes_a_tree_but_not_what_its_links_point_to) {
    char root[512], p[700], outside_file[700], outside_dir[700];
    const char *tmp = cada_test_tmpdir();
    path_of(root, sizeof root, "%s/rm_tree/run 'quoted' $(x)", tmp); /* shell metacharacters are plain bytes */
    path_of(outside_dir, sizeof outside_dir, "%s/rm_outside", tmp);
    path_of(outside_file, sizeof outside_file, "%s/rm_outside/keep.txt", tmp);
    REQUIRE_OK(cada_mkdir_p(outside_dir));
    REQUIRE(write_text(outside_file, "outside"));

    REQUIRE_OK(cada_mkdir_p(path_of(p, sizeof p, "%s/a/b/c", root)));
    REQUIRE_OK(cada_mkdir_p(path_of(p, sizeof p, "%s/empty", root)));
    REQUIRE(write_text(path_of(p, sizeof p, "%s/a/b/c/deep.bin", root), "deep"));
    REQUIRE(write_text(path_of(p, sizeof p, "%s/a/one.txt", root), "one"));
    REQUIRE(write_text(path_of(p, sizeof p, "%s/.hidden", root), "hidden"));
    REQUIRE(symlink(outside_file, path_of(p, sizeof p, "%s/a/link_to_file", root)) == 0);
    REQUIRE(symlink(outside_dir, path_of(p, sizeof p, "%s/a/b/link_to_dir", root)) == 0);
    REQUIRE(symlink("/nonexistent/target", path_of(p, sizeof p, "%s/dangling", root)) == 0);
    /* a folder without permissions: rm -rf removes it as its owner may */
    REQUIRE_OK(cada_mkdir_p(path_of(p, sizeof p, "%s/locked", root)));
    REQUIRE(chmod(p, 0) == 0);

    REQUIRE_OK(cada_rm_rf(root));
    EXPECT(!exists(root), "%s still exists", root);
    EXPECT(exists(path_of(p, sizeof p, "%s/rm_tree", tmp)), "the parent folder must stay");
    EXPECT(file_has(outside_file, "outside"), "the file a link pointed to was touched");
    EXPECT(exists(outside_dir), "the folder a link pointed to was removed");

    /* path itself a link to a folder: the link goes, the folder and its file stay */
    REQUIRE(symlink(outside_dir, path_of(p, sizeof p, "%s/rm_link", tmp)) == 0);
    REQUIRE_OK(cada_rm_rf(p));
    EXPECT(!exists(p) && file_has(outside_file, "outside"));
    /* path a plain file */
    REQUIRE(write_text(path_of(p, sizeof p, "%s/rm_plain", tmp), "x"));
    REQUIRE_OK(cada_rm_rf(p));
    EXPECT(!exists(p));
    /* trailing slash on a folder */
    REQUIRE_OK(cada_mkdir_p(path_of(p, sizeof p, "%s/rm_slash/sub", tmp)));
    REQUIRE_OK(cada_rm_rf(path_of(p, sizeof p, "%s/rm_slash/", tmp)));
    EXPECT(!exists(path_of(p, sizeof p, "%s/rm_slash", tmp)));
}

TEST(fs_rm_rf_missing_is_ok_and_refusals_and_errors_name_the_path) {
    char p[700], keep[700];
    const char *tmp = cada_test_tmpdir();
    REQUIRE_OK(cada_rm_rf(path_of(p, sizeof p, "%s/rm_never_made", tmp)));
    REQUIRE_OK(cada_rm_rf(path_of(p, sizeof p, "%s/rm_never_made/below/too", tmp)));

    /* refused before anything is touched: the sibling of "sub" survives "sub/.." */
    REQUIRE_OK(cada_mkdir_p(path_of(p, sizeof p, "%s/rm_refuse/sub", tmp)));
    REQUIRE(write_text(path_of(keep, sizeof keep, "%s/rm_refuse/keep", tmp), "k"));
    const char *refused[] = {"", "/rm_refuse/sub/..", "/rm_refuse/sub/../", "/rm_refuse/sub/.", "/rm_refuse/."};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        if (i == 0) snprintf(p, sizeof p, "%s", refused[i]);
        else snprintf(p, sizeof p, "%s%s", tmp, refused[i]);
        EXPECT(cada_rm_rf(p) == CADA_ERR_ARG && strstr(cada_error_message(), "refusing"), "'%s': %s", p,
               cada_error_message());
    }
    EXPECT(file_has(keep, "k") && exists(path_of(p, sizeof p, "%s/rm_refuse/sub", tmp)));

    /* a path through a plain file cannot be looked at: an error naming it and errno's text */
    path_of(p, sizeof p, "%s/rm_refuse/keep/child", tmp);
    EXPECT(cada_rm_rf(p) == CADA_ERR_IO && strstr(cada_error_message(), p) &&
               strstr(cada_error_message(), strerror(ENOTDIR)),
           "%s", cada_error_message());
    REQUIRE_OK(cada_rm_rf(path_of(p, sizeof p, "%s/rm_refuse", tmp)));
    EXPECT(!exists(p));
}
