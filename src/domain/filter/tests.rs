//! Unit tests of the filter and PATCH path grammar.

use super::*;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

fn f(input: &str) -> Filter {
    parse_filter(input, Limits::default()).unwrap_or_else(|e| panic!("{input:?} should parse: {e}"))
}

fn err(input: &str) -> ParseError {
    match parse_filter(input, Limits::default()) {
        Ok(ast) => panic!("{input:?} should fail, got {ast:?}"),
        Err(e) => e,
    }
}

fn pp(input: &str) -> PatchPath {
    parse_patch_path(input, Limits::default())
        .unwrap_or_else(|e| panic!("{input:?} should parse: {e}"))
}

fn a(attr: &str) -> AttrPath {
    AttrPath {
        urn: None,
        attr: attr.into(),
        sub_attr: None,
    }
}

fn a2(attr: &str, sub: &str) -> AttrPath {
    AttrPath {
        urn: None,
        attr: attr.into(),
        sub_attr: Some(sub.into()),
    }
}

fn au(urn: &str, attr: &str, sub: Option<&str>) -> AttrPath {
    AttrPath {
        urn: Some(urn.into()),
        attr: attr.into(),
        sub_attr: sub.map(Into::into),
    }
}

fn s(v: &str) -> CompValue {
    CompValue::String(v.into())
}

fn cmp(path: AttrPath, op: CompareOp, value: CompValue) -> Filter {
    Filter::Compare { path, op, value }
}

fn eq(attr: &str, v: &str) -> Filter {
    cmp(a(attr), CompareOp::Eq, s(v))
}

fn pr(attr: &str) -> Filter {
    Filter::Present(a(attr))
}

fn and(l: Filter, r: Filter) -> Filter {
    Filter::And(Box::new(l), Box::new(r))
}

fn or(l: Filter, r: Filter) -> Filter {
    Filter::Or(Box::new(l), Box::new(r))
}

fn not_(x: Filter) -> Filter {
    Filter::Not(Box::new(x))
}

fn vp(path: AttrPath, filter: Filter) -> Filter {
    Filter::ValuePath {
        path,
        filter: Box::new(filter),
    }
}

fn num(text: &str) -> CompValue {
    CompValue::Number(text.parse().unwrap())
}

fn assert_round_trip(input: &str) {
    let ast = f(input);
    let text = ast.to_string();
    let again = parse_filter(&text, Limits::default())
        .unwrap_or_else(|e| panic!("{text:?} (from {input:?}) should re-parse: {e}"));
    assert_eq!(ast, again, "round trip of {input:?} via {text:?}");
    // Canonical text is a fixed point.
    assert_eq!(again.to_string(), text);
}

/// RFC 7644 §3.4.2.2, Figure 2, plus the case-insensitivity examples from the same section.
const RFC_EXAMPLES: &[&str] = &[
    r#"userName Eq "john""#,
    r#"Username eq "john""#,
    r#"userName eq "bjensen""#,
    r#"name.familyName co "O'Malley""#,
    r#"userName sw "J""#,
    r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
    "title pr",
    r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
    r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
    r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
    r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
    r#"title pr and userType eq "Employee""#,
    r#"title pr or userType eq "Intern""#,
    r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
    r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
    r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
    r#"userType eq "Employee" and (emails.type eq "work")"#,
    r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
    r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
];

// ---- RFC examples ----------------------------------------------------------------------

#[test]
fn rfc_simple_examples() {
    assert_eq!(f(r#"userName eq "bjensen""#), eq("userName", "bjensen"));
    assert_eq!(
        f(r#"name.familyName co "O'Malley""#),
        cmp(a2("name", "familyName"), CompareOp::Co, s("O'Malley"))
    );
    assert_eq!(
        f(r#"userName sw "J""#),
        cmp(a("userName"), CompareOp::Sw, s("J"))
    );
    assert_eq!(
        f(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#),
        cmp(au(CORE_USER, "userName", None), CompareOp::Sw, s("J"))
    );
    assert_eq!(f("title pr"), pr("title"));
    for (text, op) in [
        ("gt", CompareOp::Gt),
        ("ge", CompareOp::Ge),
        ("lt", CompareOp::Lt),
        ("le", CompareOp::Le),
    ] {
        assert_eq!(
            f(&format!(
                r#"meta.lastModified {text} "2011-05-13T04:42:34Z""#
            )),
            cmp(a2("meta", "lastModified"), op, s("2011-05-13T04:42:34Z"))
        );
    }
    assert_eq!(
        f(r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#),
        eq("schemas", ENTERPRISE)
    );
}

#[test]
fn rfc_case_insensitive_examples() {
    assert_eq!(f(r#"userName Eq "john""#), eq("userName", "john"));
    assert_eq!(f(r#"Username eq "john""#), eq("Username", "john"));
}

#[test]
fn rfc_logical_examples() {
    assert_eq!(
        f(r#"title pr and userType eq "Employee""#),
        and(pr("title"), eq("userType", "Employee"))
    );
    assert_eq!(
        f(r#"title pr or userType eq "Intern""#),
        or(pr("title"), eq("userType", "Intern"))
    );
    let emails_or = or(
        cmp(a("emails"), CompareOp::Co, s("example.com")),
        cmp(a2("emails", "value"), CompareOp::Co, s("example.org")),
    );
    assert_eq!(
        f(
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#
        ),
        and(eq("userType", "Employee"), emails_or.clone())
    );
    assert_eq!(
        f(
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#
        ),
        and(
            cmp(a("userType"), CompareOp::Ne, s("Employee")),
            not_(emails_or)
        )
    );
    assert_eq!(
        f(r#"userType eq "Employee" and (emails.type eq "work")"#),
        and(
            eq("userType", "Employee"),
            cmp(a2("emails", "type"), CompareOp::Eq, s("work"))
        )
    );
}

#[test]
fn rfc_value_path_examples() {
    let work_example = vp(
        a("emails"),
        and(
            eq("type", "work"),
            cmp(a("value"), CompareOp::Co, s("@example.com")),
        ),
    );
    assert_eq!(
        f(r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#),
        and(eq("userType", "Employee"), work_example.clone())
    );
    assert_eq!(
        f(
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#
        ),
        or(
            work_example,
            vp(
                a("ims"),
                and(
                    eq("type", "xmpp"),
                    cmp(a("value"), CompareOp::Co, s("@foo.com"))
                )
            )
        )
    );
    assert_eq!(
        f(r#"members[value eq "2819c223"]"#),
        vp(a("members"), eq("value", "2819c223"))
    );
}

#[test]
fn all_rfc_examples_round_trip() {
    for input in RFC_EXAMPLES {
        assert_round_trip(input);
    }
}

// ---- operators, keywords, precedence ---------------------------------------------------

#[test]
fn every_operator() {
    for (text, op) in [
        ("eq", CompareOp::Eq),
        ("ne", CompareOp::Ne),
        ("co", CompareOp::Co),
        ("sw", CompareOp::Sw),
        ("ew", CompareOp::Ew),
        ("gt", CompareOp::Gt),
        ("ge", CompareOp::Ge),
        ("lt", CompareOp::Lt),
        ("le", CompareOp::Le),
    ] {
        let expected = cmp(a("x"), op, s("v"));
        assert_eq!(f(&format!(r#"x {text} "v""#)), expected);
        assert_eq!(f(&format!(r#"x {} "v""#, text.to_uppercase())), expected);
        assert_round_trip(&format!(r#"x {text} "v""#));
    }
    assert_eq!(f("x pr"), pr("x"));
    assert_eq!(f("x PR"), pr("x"));
    assert_eq!(f("x Pr"), pr("x"));
}

#[test]
fn keywords_are_case_insensitive() {
    assert_eq!(
        f(r#"a EQ "1" AND b Pr Or NOT (c eq TRUE)"#),
        or(
            and(eq("a", "1"), pr("b")),
            not_(cmp(a("c"), CompareOp::Eq, CompValue::Bool(true)))
        )
    );
    assert_eq!(
        f("a eq False"),
        cmp(a("a"), CompareOp::Eq, CompValue::Bool(false))
    );
    assert_eq!(f("a eq NULL"), cmp(a("a"), CompareOp::Eq, CompValue::Null));
    assert_eq!(
        f(r#"URN:ietf:params:scim:schemas:core:2.0:User:userName eq "x""#),
        cmp(
            au(
                "URN:ietf:params:scim:schemas:core:2.0:User",
                "userName",
                None
            ),
            CompareOp::Eq,
            s("x")
        )
    );
}

#[test]
fn precedence_and_associativity() {
    let one = |n: &str| cmp(a(n), CompareOp::Eq, num("1"));
    assert_eq!(
        f("a eq 1 or b eq 1 and c eq 1"),
        or(one("a"), and(one("b"), one("c")))
    );
    assert_eq!(
        f("a eq 1 and b eq 1 or c eq 1"),
        or(and(one("a"), one("b")), one("c"))
    );
    assert_eq!(
        f("a eq 1 and b eq 1 and c eq 1"),
        and(and(one("a"), one("b")), one("c"))
    );
    assert_eq!(
        f("a eq 1 or b eq 1 or c eq 1"),
        or(or(one("a"), one("b")), one("c"))
    );
    assert_eq!(
        f("a pr or b pr and c pr or d pr and e pr"),
        or(or(pr("a"), and(pr("b"), pr("c"))), and(pr("d"), pr("e")))
    );
    // not binds tighter than and
    assert_eq!(f("not (a pr) and b pr"), and(not_(pr("a")), pr("b")));
}

#[test]
fn parentheses() {
    assert_eq!(
        f("(a pr or b pr) and c pr"),
        and(or(pr("a"), pr("b")), pr("c"))
    );
    assert_eq!(
        f("a pr and (b pr and c pr)"),
        and(pr("a"), and(pr("b"), pr("c")))
    );
    assert_eq!(f("((((a pr))))"), pr("a"));
    assert_eq!(f("  ( a pr )  "), pr("a"));
    assert_round_trip("a pr and (b pr and c pr)");
    assert_round_trip("a pr or (b pr or c pr)");
    assert_round_trip("(a pr or b pr) and (c pr or d pr) and not (e pr and f pr)");
}

#[test]
fn not_forms() {
    assert_eq!(f("not (a pr)"), not_(pr("a")));
    assert_eq!(f("not(a pr)"), not_(pr("a")));
    assert_eq!(f("NOT   (a pr)"), not_(pr("a")));
    assert_eq!(f("not (not (a pr))"), not_(not_(pr("a"))));
    // "not" is also a legal attribute name
    assert_eq!(f(r#"not eq "x""#), eq("not", "x"));
    assert_eq!(f("not pr"), pr("not"));
    let e = err("not a pr");
    assert_eq!(e.message, "expected '(' after 'not'");
    assert_eq!(e.position, 4);
}

#[test]
fn whitespace_is_lenient() {
    let expected = and(eq("a", "x"), pr("b"));
    for input in [
        "a eq \"x\" and b pr",
        "  a   eq   \"x\"   and   b   pr  ",
        "a\teq\t\"x\"\tand\tb\tpr",
        "a eq \"x\"\r\nand b pr",
        "a eq\"x\"and b pr",
    ] {
        assert_eq!(f(input), expected, "{input:?}");
    }
    assert_eq!(f("(a pr)or(b pr)"), or(pr("a"), pr("b")));
    assert_eq!(
        f(r#"emails[ type eq "work" ]"#),
        vp(a("emails"), eq("type", "work"))
    );
}

#[test]
fn keyword_word_boundaries() {
    // `prand` is not `pr and`
    assert!(parse_filter("a prand b pr", Limits::default()).is_err());
    assert!(parse_filter("a pr andb pr", Limits::default()).is_err());
    assert!(parse_filter("a eqx \"v\"", Limits::default()).is_err());
    assert!(parse_filter("a eq truex", Limits::default()).is_err());
    // attribute names that look like keywords
    assert_eq!(f("and pr"), pr("and"));
    assert_eq!(f("or pr or pr pr"), or(pr("or"), pr("pr")));
    assert_eq!(f("orange pr"), pr("orange"));
}

// ---- values ------------------------------------------------------------------------------

#[test]
fn string_escapes() {
    let cases: &[(&str, &str)] = &[
        (r#""plain""#, "plain"),
        (r#""q\"uote""#, "q\"uote"),
        (r#""back\\slash""#, "back\\slash"),
        (r#""sl\/ash""#, "sl/ash"),
        (r#""\b\f\n\r\t""#, "\u{8}\u{c}\n\r\t"),
        (r#""\u00e9\u00E9""#, "éé"),
        (r#""\ud83d\ude00""#, "😀"),
        (r#""raw unicode: 日本 😀""#, "raw unicode: 日本 😀"),
        (r#""""#, ""),
        (r#""O'Malley""#, "O'Malley"),
        (r#""a]b)c(d[e""#, "a]b)c(d[e"),
    ];
    for (lit, expected) in cases {
        let input = format!("x eq {lit}");
        assert_eq!(f(&input), eq("x", expected), "{input}");
        assert_round_trip(&input);
    }
}

#[test]
fn string_errors() {
    let e = err(r#"x eq "abc"#);
    assert_eq!(e.message, "unterminated string");
    assert_eq!(e.position, 5);
    let e = err(r#"x eq "abc\"#);
    assert_eq!(e.message, "unterminated string");
    let e = err(r#"x eq "a\qb""#);
    assert_eq!(e.message, "invalid escape sequence in string");
    assert_eq!(e.position, 7);
    let e = err(r#"x eq "\u12""#);
    assert!(e.message.contains("\\u escape"), "{e}");
    assert_eq!(e.position, 6);
    let e = err(r#"x eq "\ud83d""#);
    assert_eq!(e.message, "invalid unicode escape in string");
    assert_eq!(e.position, 5);
    let e = err("x eq \"tab\there\"");
    assert_eq!(e.message, "control characters in strings must be escaped");
    assert_eq!(e.position, 9);
    // Non-ASCII before the error: positions are byte offsets.
    let e = err("x eq \"é\\q\"");
    assert_eq!(e.position, 8);
}

#[test]
fn numbers() {
    for (text, expected) in [
        ("0", "0"),
        ("42", "42"),
        ("-7", "-7"),
        ("3.25", "3.25"),
        ("-0.5", "-0.5"),
        ("1e3", "1e3"),
        ("1E+3", "1e3"),
        ("2.5e-3", "2.5e-3"),
        ("18446744073709551615", "18446744073709551615"),
        ("-9223372036854775808", "-9223372036854775808"),
    ] {
        let input = format!("x gt {text}");
        assert_eq!(
            f(&input),
            cmp(a("x"), CompareOp::Gt, num(expected)),
            "{input}"
        );
        assert_round_trip(&input);
    }
    // Very large integers degrade to f64 like serde_json does.
    assert_round_trip("x eq 123456789012345678901234567890");
    assert_eq!(
        f("x eq 5 and y pr"),
        and(cmp(a("x"), CompareOp::Eq, num("5")), pr("y"))
    );
    assert_eq!(f("(x eq 5)"), cmp(a("x"), CompareOp::Eq, num("5")));
    for bad in [
        "x eq 01",
        "x eq 1.",
        "x eq .5",
        "x eq -",
        "x eq 1.2.3",
        "x eq 1e",
        "x eq 5x",
        "x eq +1",
    ] {
        let e = err(bad);
        assert!(
            e.message == "invalid number" || e.message.starts_with("expected comparison value"),
            "{bad}: {e}"
        );
        assert_eq!(e.position, 5, "{bad}: {e}");
    }
    assert_eq!(err("x eq 1e400").message, "number out of range");
}

#[test]
fn booleans_and_null() {
    assert_eq!(
        f("active eq true"),
        cmp(a("active"), CompareOp::Eq, CompValue::Bool(true))
    );
    assert_eq!(
        f("active ne false"),
        cmp(a("active"), CompareOp::Ne, CompValue::Bool(false))
    );
    assert_eq!(
        f("manager eq null"),
        cmp(a("manager"), CompareOp::Eq, CompValue::Null)
    );
    assert_eq!(
        f("(active eq true)"),
        cmp(a("active"), CompareOp::Eq, CompValue::Bool(true))
    );
    assert_round_trip("active eq true and x ne false or y eq null");
    let e = err("active eq yes");
    assert!(e.message.starts_with("expected comparison value"), "{e}");
    assert_eq!(e.position, 10);
}

// ---- attribute paths -----------------------------------------------------------------------

#[test]
fn attr_paths_in_filters() {
    assert_eq!(
        f(r#"meta.created gt "2011-05-13T04:42:34Z""#),
        cmp(
            a2("meta", "created"),
            CompareOp::Gt,
            s("2011-05-13T04:42:34Z")
        )
    );
    assert_eq!(
        f(r#"members.$ref eq "https://x/Users/1""#),
        cmp(a2("members", "$ref"), CompareOp::Eq, s("https://x/Users/1"))
    );
    assert_eq!(
        f(&format!(r#"{ENTERPRISE}:department eq "R&D""#)),
        cmp(au(ENTERPRISE, "department", None), CompareOp::Eq, s("R&D"))
    );
    assert_eq!(
        f(&format!(r#"{ENTERPRISE}:manager.value eq "26118915""#)),
        cmp(
            au(ENTERPRISE, "manager", Some("value")),
            CompareOp::Eq,
            s("26118915")
        )
    );
    assert_eq!(
        f(&format!(r#"{CORE_USER}:name.familyName co "J""#)),
        cmp(
            au(CORE_USER, "name", Some("familyName")),
            CompareOp::Co,
            s("J")
        )
    );
    assert_eq!(
        f("urn:example:custom:costCenter pr"),
        Filter::Present(au("urn:example:custom", "costCenter", None))
    );
    // In a filter, the last segment of a URN is always the attribute.
    assert_eq!(
        f(&format!("{ENTERPRISE} pr")),
        Filter::Present(au(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0",
            "User",
            None
        ))
    );
    assert_eq!(
        f(&format!(r#"{CORE_USER}:emails[type eq "work"]"#)),
        vp(au(CORE_USER, "emails", None), eq("type", "work"))
    );
    assert_eq!(f("x-y_z9 pr"), pr("x-y_z9"));
    assert_round_trip(&format!(
        r#"{ENTERPRISE}:manager.value eq "x" and members.$ref pr"#
    ));
}

#[test]
fn attr_path_errors() {
    let e = err("a.b.c pr");
    assert_eq!(
        e.message,
        "attribute path may contain at most one sub-attribute"
    );
    assert_eq!(e.position, 3);
    let e = err("a. pr");
    assert_eq!(e.message, "expected sub-attribute name after '.'");
    assert_eq!(e.position, 2);
    let e = err("1abc pr");
    assert_eq!(e.message, "expected attribute path, '(' or 'not'");
    assert_eq!(e.position, 0);
    let e = err("urn:a:b: pr");
    assert_eq!(e.message, "expected attribute name after schema URN");
    assert_eq!(e.position, 8);
    let e = err("urn:x pr");
    assert!(e.message.starts_with("schema URN must be followed"), "{e}");
    let e = err("urn:a:b:c.d.e pr");
    assert_eq!(
        e.message,
        "attribute path may contain at most one sub-attribute"
    );
    assert_eq!(e.position, 11);
    let e = err("urn:a:b:9c pr");
    assert_eq!(e.message, "expected attribute name");
    assert_eq!(e.position, 8);
    let e = err("urn:a:b:c$d pr");
    assert_eq!(e.message, "invalid character in attribute name");
    assert_eq!(e.position, 9);
}

#[test]
fn parse_attr_path_shapes() {
    assert_eq!(parse_attr_path("userName").unwrap(), a("userName"));
    assert_eq!(
        parse_attr_path("name.familyName").unwrap(),
        a2("name", "familyName")
    );
    assert_eq!(
        parse_attr_path(&format!("{ENTERPRISE}:department")).unwrap(),
        au(ENTERPRISE, "department", None)
    );
    assert_eq!(
        parse_attr_path(&format!("{ENTERPRISE}:manager.value")).unwrap(),
        au(ENTERPRISE, "manager", Some("value"))
    );
    assert_eq!(
        parse_attr_path(ENTERPRISE).unwrap(),
        au(ENTERPRISE, "", None)
    );
    assert_eq!(parse_attr_path(CORE_USER).unwrap(), au(CORE_USER, "", None));
    assert_eq!(
        parse_attr_path("urn:ietf:params:scim:schemas:core:2.0:Group").unwrap(),
        au("urn:ietf:params:scim:schemas:core:2.0:Group", "", None)
    );
    // Custom extension attribute (Entra style) is not mistaken for a bare URN.
    assert_eq!(
        parse_attr_path("urn:ietf:params:scim:schemas:extension:Custom:2.0:User:CostCenter")
            .unwrap(),
        au(
            "urn:ietf:params:scim:schemas:extension:Custom:2.0:User",
            "CostCenter",
            None
        )
    );
    assert_eq!(
        parse_attr_path("urn:example:ext:costCenter").unwrap(),
        au("urn:example:ext", "costCenter", None)
    );
    assert_eq!(
        parse_attr_path("  meta.created ").unwrap(),
        a2("meta", "created")
    );
    assert_eq!(
        parse_attr_path("members.$ref").unwrap(),
        a2("members", "$ref")
    );

    assert_eq!(
        parse_attr_path("").unwrap_err().message,
        "empty attribute path"
    );
    assert_eq!(parse_attr_path("   ").unwrap_err().position, 3);
    let e = parse_attr_path("emails[type eq \"work\"]").unwrap_err();
    assert_eq!(e.position, 6);
    let e = parse_attr_path("userName, id").unwrap_err();
    assert_eq!(e.message, "unexpected trailing input");
    assert_eq!(e.position, 8);
    assert!(parse_attr_path("a.b.c").is_err());
    assert!(parse_attr_path(&"a".repeat(5000)).is_err());
}

#[test]
fn attr_path_display() {
    for text in [
        "userName",
        "name.familyName",
        "members.$ref",
        ENTERPRISE,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
    ] {
        let p = parse_attr_path(text).unwrap();
        assert_eq!(p.to_string(), text);
        assert_eq!(parse_attr_path(&p.to_string()).unwrap(), p);
    }
}

// ---- value filters ---------------------------------------------------------------------------

#[test]
fn value_filter_contents() {
    assert_eq!(
        f(r#"emails[type eq "work" or (type eq "home" and not (primary eq true))]"#),
        vp(
            a("emails"),
            or(
                eq("type", "work"),
                and(
                    eq("type", "home"),
                    not_(cmp(a("primary"), CompareOp::Eq, CompValue::Bool(true)))
                )
            )
        )
    );
    assert_eq!(
        f(r#"emails[value pr] and emails[type eq "work"]"#),
        and(
            vp(a("emails"), pr("value")),
            vp(a("emails"), eq("type", "work"))
        )
    );
    assert_round_trip(r#"emails[type eq "work" or (type eq "home" and not (primary eq true))]"#);
    assert_round_trip(r#"not (emails[value pr]) or (x pr and y[z eq 1])"#);
}

#[test]
fn value_filter_sub_attr_extension() {
    assert_eq!(
        f(r#"emails[type eq "work"].value eq "x@y.z""#),
        vp(a("emails"), and(eq("type", "work"), eq("value", "x@y.z")))
    );
    assert_eq!(
        f(r#"emails[type eq "work"].value pr and userName eq "u""#),
        and(
            vp(a("emails"), and(eq("type", "work"), pr("value"))),
            eq("userName", "u")
        )
    );
    assert_eq!(
        f(r#"emails[type eq "a" or type eq "b"].value co "@x""#),
        vp(
            a("emails"),
            and(
                or(eq("type", "a"), eq("type", "b")),
                cmp(a("value"), CompareOp::Co, s("@x"))
            )
        )
    );
    assert_round_trip(r#"emails[type eq "work"].value eq "x@y.z""#);
    assert_round_trip(r#"emails[type eq "a" or type eq "b"].value co "@x""#);
    let e = err(r#"emails[type eq "work"].value"#);
    assert!(e.message.starts_with("expected comparison operator"), "{e}");
    assert_eq!(e.position, 28);
    let e = err(r#"emails[type eq "work"].value.x eq 1"#);
    assert_eq!(
        e.message,
        "attribute path may contain at most one sub-attribute"
    );
}

#[test]
fn value_filter_errors() {
    let e = err(r#"emails[type[value eq "x"]]"#);
    assert_eq!(e.message, "nested value filters are not allowed");
    assert_eq!(e.position, 11);
    let e = err(r#"a[b pr and (c[d pr])]"#);
    assert_eq!(e.message, "nested value filters are not allowed");
    let e = err(r#"emails[type eq "work""#);
    assert_eq!(e.message, "missing ']' to close the '[' at position 6");
    assert_eq!(e.position, 21);
    let e = err(r#"emails[type eq "work")"#);
    assert_eq!(e.message, "expected ']' to close the '[' at position 6");
    let e = err("emails[]");
    assert_eq!(e.message, "expected attribute path, '(' or 'not'");
    assert_eq!(e.position, 7);
    let e = err("name.x[y pr]");
    assert_eq!(e.message, "a value filter cannot follow a sub-attribute");
    let e = err(r#"emails [type eq "work"]"#);
    assert!(e.message.starts_with("expected comparison operator"), "{e}");
    assert_eq!(e.position, 7);
}

// ---- PATCH paths -------------------------------------------------------------------------

#[test]
fn patch_path_shapes() {
    let plain = |attr: AttrPath| PatchPath {
        attr,
        filter: None,
        sub_attr: None,
    };
    assert_eq!(pp("members"), plain(a("members")));
    assert_eq!(pp("name.givenName"), plain(a2("name", "givenName")));
    assert_eq!(
        pp(&format!("{ENTERPRISE}:manager")),
        plain(au(ENTERPRISE, "manager", None))
    );
    assert_eq!(
        pp(&format!("{ENTERPRISE}:manager.value")),
        plain(au(ENTERPRISE, "manager", Some("value")))
    );
    assert_eq!(pp(ENTERPRISE), plain(au(ENTERPRISE, "", None)));
    assert_eq!(
        pp(r#"emails[type eq "work"].value"#),
        PatchPath {
            attr: a("emails"),
            filter: Some(eq("type", "work")),
            sub_attr: Some("value".into()),
        }
    );
    assert_eq!(
        pp(r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#),
        PatchPath {
            attr: a("members"),
            filter: Some(eq("value", "2819c223-7f76-453a-919d-413861904646")),
            sub_attr: None,
        }
    );
    assert_eq!(
        pp(r#"emails[value eq "a@b.c"]"#),
        PatchPath {
            attr: a("emails"),
            filter: Some(eq("value", "a@b.c")),
            sub_attr: None,
        }
    );
    for (input, attr, ty, sub) in [
        (
            r#"addresses[type eq "work"].streetAddress"#,
            "addresses",
            "work",
            "streetAddress",
        ),
        (
            r#"phoneNumbers[type eq "mobile"].value"#,
            "phoneNumbers",
            "mobile",
            "value",
        ),
        (
            r#"addresses[type eq "work"].locality"#,
            "addresses",
            "work",
            "locality",
        ),
    ] {
        assert_eq!(
            pp(input),
            PatchPath {
                attr: a(attr),
                filter: Some(eq("type", ty)),
                sub_attr: Some(sub.into()),
            },
            "{input}"
        );
    }
    assert_eq!(
        pp(&format!(
            r#"{CORE_USER}:emails[type eq "work" and primary eq true].display"#
        )),
        PatchPath {
            attr: au(CORE_USER, "emails", None),
            filter: Some(and(
                eq("type", "work"),
                cmp(a("primary"), CompareOp::Eq, CompValue::Bool(true))
            )),
            sub_attr: Some("display".into()),
        }
    );
    assert_eq!(pp("  members  "), plain(a("members")));
    assert_eq!(
        pp(r#"emails[(type eq "a") or not (type eq "b")]"#).filter,
        Some(or(eq("type", "a"), not_(eq("type", "b"))))
    );
}

#[test]
fn patch_path_errors() {
    let perr = |input: &str| parse_patch_path(input, Limits::default()).unwrap_err();
    assert_eq!(perr("").message, "empty path");
    let e = perr(r#"emails[type eq "work"]value"#);
    assert_eq!(e.message, "unexpected trailing input");
    assert_eq!(e.position, 22);
    let e = perr(r#"emails[type eq "work""#);
    assert_eq!(e.message, "missing ']' to close the '[' at position 6");
    assert_eq!(e.position, 21);
    let e = perr(r#"emails[type eq "work")"#);
    assert_eq!(e.message, "expected ']' to close the '[' at position 6");
    let e = perr(r#"emails[type eq "work"]."#);
    assert_eq!(e.message, "expected sub-attribute name after '.'");
    let e = perr(r#"emails[type eq "work"].value.x"#);
    assert_eq!(
        e.message,
        "attribute path may contain at most one sub-attribute"
    );
    let e = perr(r#"emails[type[x eq 1]]"#);
    assert_eq!(e.message, "nested value filters are not allowed");
    let e = perr(&format!("{ENTERPRISE}[x eq 1]"));
    assert!(e.message.contains("schema URN"), "{e}");
    let e = perr("name.givenName[x eq 1]");
    assert_eq!(e.message, "a value filter cannot follow a sub-attribute");
    let e = perr("a.b.c");
    assert_eq!(e.position, 3);
    let e = perr("emails eq 1");
    assert_eq!(e.message, "unexpected trailing input");
    assert_eq!(e.position, 7);
    let e = parse_patch_path(
        r#"emails[type eq "work"]"#,
        Limits {
            max_len: 100,
            max_depth: 0,
        },
    )
    .unwrap_err();
    assert_eq!(e.message, "filter nested too deeply (maximum depth is 0)");
    assert_eq!(e.position, 6);
    let e = parse_patch_path(
        "members",
        Limits {
            max_len: 3,
            max_depth: 5,
        },
    )
    .unwrap_err();
    assert_eq!(e.message, "path longer than 3 characters");
}

// ---- general errors ----------------------------------------------------------------------

#[test]
fn error_positions_and_messages() {
    let e = err("");
    assert_eq!((e.position, e.message.as_str()), (0, "empty filter"));
    let e = err("   ");
    assert_eq!((e.position, e.message.as_str()), (3, "empty filter"));
    let e = err(r#"userName xx "bjensen""#);
    assert_eq!(e.position, 9);
    assert_eq!(
        e.message,
        "expected comparison operator (eq, ne, co, sw, ew, gt, ge, lt, le) or 'pr'"
    );
    let e = err("userName");
    assert_eq!(e.position, 8);
    assert!(e.message.starts_with("expected comparison operator"));
    let e = err("userName eq");
    assert_eq!(e.position, 11);
    assert!(e.message.starts_with("expected comparison value"));
    let e = err("userName eq bjensen");
    assert_eq!(e.position, 12);
    let e = err(r#"userName eq "a" garbage"#);
    assert_eq!(e.position, 16);
    assert!(e.message.starts_with("unexpected trailing input"), "{e}");
    let e = err(r#"userName eq "a" and"#);
    assert_eq!(e.position, 19);
    assert_eq!(e.message, "expected attribute path, '(' or 'not'");
    let e = err(r#"(userName eq "a""#);
    assert_eq!(e.message, "missing ')' to close the '(' at position 0");
    assert_eq!(e.position, 16);
    let e = err(r#"userName eq "a")"#);
    assert_eq!((e.position, e.message.as_str()), (15, "unmatched ')'"));
    let e = err(r#"userName eq "a"]"#);
    assert_eq!((e.position, e.message.as_str()), (15, "unmatched ']'"));
    let e = err("(a pr]");
    assert_eq!(e.message, "expected ')' to close the '(' at position 0");
    let e = err("()");
    assert_eq!(
        (e.position, e.message.as_str()),
        (1, "expected attribute path, '(' or 'not'")
    );
    let e = err("a pr b pr");
    assert_eq!(e.position, 5);
    let e = err("(a pr b pr)");
    assert_eq!(
        (e.position, e.message.as_str()),
        (6, "expected 'and', 'or' or ')'")
    );
    let e = err("x[a pr b pr]");
    assert_eq!(
        (e.position, e.message.as_str()),
        (7, "expected 'and', 'or' or ']'")
    );
    // `and` is read as an attribute name here, so the error is at `b`.
    let e = err("a pr and and b pr");
    assert_eq!(e.position, 13);
    let e = err("😀 pr");
    assert_eq!(e.position, 0);
    let e = err("a pr and 😀");
    assert_eq!(e.position, 9);
    assert_eq!(
        e.to_string(),
        "expected attribute path, '(' or 'not' at position 9"
    );
}

// ---- limits and robustness ---------------------------------------------------------------

#[test]
fn length_limit() {
    let long = format!("userName eq \"{}\"", "x".repeat(5000));
    let e = err(&long);
    assert_eq!(e.message, "filter longer than 4096 characters");
    assert_eq!(e.position, 4096);
    let limits = Limits {
        max_len: 10,
        max_depth: 32,
    };
    assert!(parse_filter("title pr", limits).is_ok());
    assert!(parse_filter("title pr  ", limits).is_ok());
    assert!(parse_filter("title pr   ", limits).is_err());
    // Counted in characters, not bytes.
    assert!(parse_filter("x eq \"ééé\"", limits).is_ok());
    let exact = format!("x eq \"{}\"", "y".repeat(4096 - 7));
    assert_eq!(exact.chars().count(), 4096);
    assert!(parse_filter(&exact, Limits::default()).is_ok());
}

#[test]
fn depth_limit() {
    let nested = |n: usize| format!("{}a pr{}", "(".repeat(n), ")".repeat(n));
    assert_eq!(f(&nested(32)), pr("a"));
    let e = err(&nested(33));
    assert_eq!(e.message, "filter nested too deeply (maximum depth is 32)");
    assert_eq!(e.position, 32);
    let nots = |n: usize| format!("{}a pr{}", "not (".repeat(n), ")".repeat(n));
    assert!(parse_filter(&nots(32), Limits::default()).is_ok());
    assert!(parse_filter(&nots(33), Limits::default()).is_err());
    // value brackets count too
    let shallow = Limits {
        max_len: 4096,
        max_depth: 1,
    };
    assert!(parse_filter("x[a pr]", shallow).is_ok());
    assert!(parse_filter("(x[a pr])", shallow).is_err());
    assert!(parse_filter("(a pr) and (b pr)", shallow).is_ok());
}

#[test]
fn ten_thousand_parens_do_not_overflow() {
    let big = Limits {
        max_len: 1_000_000,
        max_depth: 32,
    };
    for input in [
        "(".repeat(10_000),
        ")".repeat(10_000),
        format!("{}a pr{}", "(".repeat(10_000), ")".repeat(10_000)),
        "not (".repeat(10_000),
        "[".repeat(10_000),
        format!("a{}", "[".repeat(10_000)),
    ] {
        assert!(parse_filter(&input, big).is_err());
        assert!(parse_patch_path(&input, big).is_err());
        // Default limits reject on length before parsing.
        assert!(parse_filter(&input, Limits::default()).is_err());
    }
    // Huge max_depth: still no recursion while parsing.
    let deep = Limits {
        max_len: 1_000_000,
        max_depth: usize::MAX,
    };
    let input = format!("{}a pr{}", "(".repeat(10_000), ")".repeat(10_000));
    assert_eq!(parse_filter(&input, deep).unwrap(), pr("a"));
}

#[test]
fn long_chains_are_iterative() {
    let big = Limits {
        max_len: 1_000_000,
        max_depth: 32,
    };
    let input = vec!["a pr"; 5_000].join(" and ");
    let ast = parse_filter(&input, big).unwrap();
    let text = ast.to_string();
    assert_eq!(text, input);
    let input = vec!["a pr and b pr"; 2_000].join(" or ");
    let ast = parse_filter(&input, big).unwrap();
    assert_eq!(ast.to_string(), input);
}

#[test]
fn garbage_never_panics() {
    let samples = [
        "\"",
        "\"\\",
        "\"\\u",
        "\"\\ud800\"",
        "x eq \"\\uD800\\u0041\"",
        "[",
        "]",
        "(",
        ")",
        "not",
        "not (",
        "not(",
        "a[",
        "a[]",
        "a[b",
        "a]",
        "a.",
        ".a",
        "urn:",
        "urn:::",
        "urn:a:b:c.",
        "urn:😀:x pr",
        "a eq -",
        "a eq 1e",
        "a eq 1e+",
        "a eq \"\u{0}\"",
        "\u{feff}a pr",
        "a\u{a0}pr",
        "a pr\u{0}",
        "é",
        "a eq \"é",
        "$ref pr",
        "$re pr",
        "a[b eq 1].",
        "a[b eq 1].c",
        "a[b eq 1].c eq",
        "not ( a pr",
        "a pr or",
        "a eq tRuE",
        "a eq nul",
        "x eq \"\\u00\"",
    ];
    for sample in samples {
        let _ = parse_filter(sample, Limits::default());
        let _ = parse_patch_path(sample, Limits::default());
        let _ = parse_attr_path(sample);
    }
    // Every prefix and suffix of a complex filter, on char boundaries.
    let complex = r#"userType ne "Emp\u00e9loyé" and not (emails[type eq "work" and value co "@ex.com"].display pr or urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq 1.5e3)"#;
    for (idx, _) in complex.char_indices() {
        for part in [&complex[..idx], &complex[idx..]] {
            if let Ok(ast) = parse_filter(part, Limits::default()) {
                let again = parse_filter(&ast.to_string(), Limits::default()).unwrap();
                assert_eq!(ast, again);
            }
            let _ = parse_patch_path(part, Limits::default());
            let _ = parse_attr_path(part);
        }
    }
    assert_round_trip(complex);
}

#[test]
fn pseudo_random_inputs_never_panic_and_round_trip() {
    // Small deterministic xorshift fuzzer over a token alphabet.
    let tokens = [
        "a",
        "b.c",
        "emails",
        "[",
        "]",
        "(",
        ")",
        " ",
        "  ",
        "and",
        "or",
        "not",
        "pr",
        "eq",
        "co",
        "gt",
        "\"x\"",
        "\"\\\"\"",
        "1",
        "-2.5e3",
        "true",
        "null",
        ".",
        "value",
        "urn:x:y:z",
        "\t",
        "é",
        "\"",
        "\\",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut parsed = 0;
    for _ in 0..20_000 {
        let len = (next() % 12) as usize;
        let mut input = String::new();
        for _ in 0..len {
            let t = tokens[(next() % tokens.len() as u64) as usize];
            input.push_str(t);
            if next().is_multiple_of(2) {
                input.push(' ');
            }
        }
        if let Ok(ast) = parse_filter(&input, Limits::default()) {
            parsed += 1;
            let text = ast.to_string();
            let again = parse_filter(&text, Limits::default())
                .unwrap_or_else(|e| panic!("{input:?} -> {text:?}: {e}"));
            assert_eq!(ast, again, "{input:?} -> {text:?}");
        }
        if let Ok(p) = parse_patch_path(&input, Limits::default())
            && let Some(filter) = &p.filter
        {
            let again = parse_filter(&filter.to_string(), Limits::default()).unwrap();
            assert_eq!(filter, &again);
        }
        let _ = parse_attr_path(&input);
    }
    assert!(
        parsed > 20,
        "token soup produced too few valid filters: {parsed}"
    );
}

/// Generates random *valid* filter text (random keyword case, spacing, grouping).
fn gen_filter(next: &mut impl FnMut() -> u64, depth: usize, in_bracket: bool, out: &mut String) {
    let pick = |next: &mut dyn FnMut() -> u64, items: &[&str]| -> String {
        items[(next() % items.len() as u64) as usize].to_string()
    };
    let case = |next: &mut dyn FnMut() -> u64, kw: &str| -> String {
        match next() % 3 {
            0 => kw.to_string(),
            1 => kw.to_uppercase(),
            _ => kw
                .chars()
                .enumerate()
                .map(|(n, c)| if n == 0 { c.to_ascii_uppercase() } else { c })
                .collect(),
        }
    };
    let sp = |next: &mut dyn FnMut() -> u64| -> String { pick(next, &[" ", " ", "  ", "\t"]) };
    let choice = if depth == 0 { next() % 2 } else { next() % 6 };
    match choice {
        0 | 1 => {
            let path = if in_bracket {
                pick(next, &["type", "value", "display", "primary", "$ref"])
            } else {
                pick(
                    next,
                    &[
                        "userName",
                        "name.familyName",
                        "meta.lastModified",
                        "members.$ref",
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
                        "urn:example:x:attr",
                    ],
                )
            };
            out.push_str(&path);
            out.push_str(&sp(next));
            if choice == 0 {
                out.push_str(&case(next, "pr"));
            } else {
                let op = pick(
                    next,
                    &["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"],
                );
                out.push_str(&case(next, &op));
                out.push_str(&sp(next));
                let value = pick(
                    next,
                    &[
                        "\"x\"",
                        "\"\"",
                        "\"a\\\"b\"",
                        "\"\\u00e9\\ud83d\\ude00\"",
                        "\"日本\"",
                        "0",
                        "-12",
                        "3.5",
                        "1e-7",
                        "true",
                        "false",
                        "null",
                    ],
                );
                if value.starts_with('"') {
                    out.push_str(&value);
                } else {
                    out.push_str(&case(next, &value));
                }
            }
        }
        2 | 3 => {
            gen_filter(next, depth - 1, in_bracket, out);
            out.push_str(&sp(next));
            out.push_str(&case(next, if choice == 2 { "and" } else { "or" }));
            out.push_str(&sp(next));
            gen_filter(next, depth - 1, in_bracket, out);
        }
        4 => {
            if next().is_multiple_of(2) {
                out.push_str(&case(next, "not"));
                out.push_str(&pick(next, &["", " "]));
            }
            out.push('(');
            gen_filter(next, depth - 1, in_bracket, out);
            out.push(')');
        }
        _ => {
            if in_bracket {
                gen_filter(next, depth - 1, in_bracket, out);
            } else {
                out.push_str(&pick(next, &["emails", "addresses", "members"]));
                out.push('[');
                gen_filter(next, depth - 1, true, out);
                out.push(']');
                if next().is_multiple_of(3) {
                    out.push_str(".value pr");
                }
            }
        }
    }
}

#[test]
fn generated_filters_parse_and_round_trip() {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..3_000 {
        let mut input = String::new();
        gen_filter(&mut next, 5, false, &mut input);
        let ast = parse_filter(&input, Limits::default())
            .unwrap_or_else(|e| panic!("{input:?} should parse: {e}"));
        let text = ast.to_string();
        let again = parse_filter(&text, Limits::default())
            .unwrap_or_else(|e| panic!("{input:?} -> {text:?}: {e}"));
        assert_eq!(ast, again, "{input:?} -> {text:?}");
        // Mutations of valid input must never panic.
        for cut in [input.len() / 3, input.len() / 2] {
            if let Some((head, tail)) = input.split_at_checked(cut) {
                let _ = parse_filter(head, Limits::default());
                let _ = parse_filter(tail, Limits::default());
                let _ = parse_patch_path(&format!("emails[{head}]"), Limits::default());
            }
        }
    }
}

#[test]
fn display_is_canonical() {
    assert_eq!(
        f(r#"A EQ "x" AND (B PR OR NOT(C Ne 1))"#).to_string(),
        r#"A eq "x" and (B pr or not (C ne 1))"#
    );
    assert_eq!(f("((a pr) and (b pr))").to_string(), "a pr and b pr");
    assert_eq!(f("x eq \"a\\u0001\\/\"").to_string(), "x eq \"a\\u0001/\"");
    assert_eq!(
        cmp(a("x"), CompareOp::Eq, s("\u{1f}\u{7f}")).to_string(),
        "x eq \"\\u001f\u{7f}\""
    );
}
