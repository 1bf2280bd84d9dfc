/* cada/category.h: the twelve hazard categories of CADA.md.
 *
 * Each has an id (snake_case, used in data files and reports) and a title. Prompt sets
 * brought from elsewhere name their categories their own way; cada_category_parse maps
 * the names of HarmBench (SemanticCategory), BeaverTails (its 14 harm categories) and
 * Do-Not-Answer's risk areas onto ours where the meaning matches, and returns
 * CADA_CAT_NONE otherwise (the prompt then has no hint: cases are chosen by similarity
 * alone). Matching ignores case, and '-', ' ' and '_' are the same. */
#ifndef CADA_CADA_CATEGORY_H
#define CADA_CADA_CATEGORY_H

enum {
    CADA_CAT_NONE = -1,
    CADA_CAT_VIOLENT_CRIMES = 0,
    CADA_CAT_NON_VIOLENT_CRIMES,
    CADA_CAT_SEX_RELATED_CRIMES,
    CADA_CAT_CHILD_SEXUAL_EXPLOITATION,
    CADA_CAT_CBRNE,
    CADA_CAT_SUICIDE_SELF_HARM,
    CADA_CAT_HATE,
    CADA_CAT_PRIVACY,
    CADA_CAT_INTELLECTUAL_PROPERTY,
    CADA_CAT_DISINFORMATION_DEFAMATION,
    CADA_CAT_ELECTIONS,
    CADA_CAT_SEXUAL_CONTENT,
    CADA_N_CATEGORIES
};

const char *cada_category_id(int cat);    /* "violent_crimes"; "none" for CADA_CAT_NONE */
const char *cada_category_title(int cat); /* "Violent crimes"; "General" for CADA_CAT_NONE */
/* Our id or title, or a known alias; CADA_CAT_NONE when unknown or NULL. */
int cada_category_parse(const char *name);

#endif
