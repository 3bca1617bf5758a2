//! Text → untyped syntax tree: a hand-written lexer and recursive-descent parser
//! with the limits of SPEC §5 (length, nesting depth, number of comparisons).

use super::{Expr, FilterError, Literal, MAX_COMPARISONS, MAX_DEPTH, MAX_LENGTH, Op};

#[derive(Debug, Clone, PartialEq)]
enum Token {
    LParen,
    RParen,
    Comma,
    Word(String),
    Str(String),
    Int(i64),
    Float(f64),
}

struct Lexed {
    token: Token,
    at: usize,
}

fn describe(token: Option<&Token>) -> String {
    match token {
        None => "the end of the filter".into(),
        Some(Token::LParen) => "'('".into(),
        Some(Token::RParen) => "')'".into(),
        Some(Token::Comma) => "','".into(),
        Some(Token::Word(w)) => format!("'{w}'"),
        Some(Token::Str(s)) => format!("the string '{s}'"),
        Some(Token::Int(n)) => format!("the number {n}"),
        Some(Token::Float(n)) => format!("the number {n}"),
    }
}

/// The tokens before the first lexical error, and that error: the parser reports
/// whichever problem comes first in the text.
fn lex(text: &str) -> (Vec<Lexed>, Option<FilterError>) {
    let mut tokens = Vec::new();
    let error = lex_into(text, &mut tokens).err();
    (tokens, error)
}

fn lex_into(text: &str, tokens: &mut Vec<Lexed>) -> Result<(), FilterError> {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => {
                i += 1;
                tokens.push(Lexed { token: Token::LParen, at: start });
            }
            ')' => {
                i += 1;
                tokens.push(Lexed { token: Token::RParen, at: start });
            }
            ',' => {
                i += 1;
                tokens.push(Lexed { token: Token::Comma, at: start });
            }
            '\'' => {
                let mut value = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(FilterError::at(
                                start,
                                "this string is never closed: add a closing '",
                            ));
                        }
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            value.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(c) => {
                            value.push(*c);
                            i += 1;
                        }
                    }
                }
                tokens.push(Lexed { token: Token::Str(value), at: start });
            }
            c if c.is_ascii_digit() || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) => {
                i += 1;
                while chars.get(i).is_some_and(|c| c.is_ascii_digit()) {
                    i += 1;
                }
                let mut float = false;
                if chars.get(i) == Some(&'.') && chars.get(i + 1).is_some_and(char::is_ascii_digit) {
                    float = true;
                    i += 1;
                    while chars.get(i).is_some_and(|c| c.is_ascii_digit()) {
                        i += 1;
                    }
                }
                if matches!(chars.get(i), Some('e' | 'E')) {
                    let sign = usize::from(matches!(chars.get(i + 1), Some('+' | '-')));
                    if chars.get(i + 1 + sign).is_some_and(char::is_ascii_digit) {
                        float = true;
                        i += 1 + sign;
                        while chars.get(i).is_some_and(|c| c.is_ascii_digit()) {
                            i += 1;
                        }
                    }
                }
                if chars.get(i).is_some_and(|c| c.is_alphanumeric() || *c == '_' || *c == '.') {
                    return Err(FilterError::at(i, "a number must be followed by a space, ')' or ','"));
                }
                let text: String = chars[start..i].iter().collect();
                let token = if float {
                    text.parse::<f64>().ok().filter(|f| f.is_finite()).map(Token::Float)
                } else {
                    text.parse::<i64>().ok().map(Token::Int)
                };
                let token = token
                    .ok_or_else(|| FilterError::at(start, format!("the number {text} is out of range")))?;
                tokens.push(Lexed { token, at: start });
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                loop {
                    while chars.get(i).is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_') {
                        i += 1;
                    }
                    // Dotted names: `weather.summary`.
                    if chars.get(i) == Some(&'.')
                        && chars.get(i + 1).is_some_and(|c| c.is_ascii_alphabetic() || *c == '_')
                    {
                        i += 1;
                        continue;
                    }
                    break;
                }
                tokens.push(Lexed { token: Token::Word(chars[start..i].iter().collect()), at: start });
            }
            other => {
                return Err(FilterError::at(start, format!("unexpected character '{other}'")));
            }
        }
    }
    Ok(())
}

fn keyword(token: Option<&Token>, word: &str) -> bool {
    matches!(token, Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
}

const RESERVED: [&str; 13] =
    ["and", "or", "not", "in", "eq", "ne", "gt", "ge", "lt", "le", "like", "true", "false"];

struct Parser {
    tokens: Vec<Lexed>,
    next: usize,
    end: usize,
    comparisons: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next).map(|l| &l.token)
    }

    fn at(&self) -> usize {
        self.tokens.get(self.next).map_or(self.end, |l| l.at)
    }

    fn bump(&mut self) -> Option<&Lexed> {
        let lexed = self.tokens.get(self.next);
        self.next += 1;
        lexed
    }

    fn expected(&self, what: &str) -> FilterError {
        FilterError::at(self.at(), format!("expected {what}, found {}", describe(self.peek())))
    }

    fn or_expr(&mut self, depth: usize) -> Result<Expr, FilterError> {
        let mut terms = vec![self.and_expr(depth)?];
        while keyword(self.peek(), "or") {
            self.bump();
            terms.push(self.and_expr(depth)?);
        }
        Ok(if terms.len() == 1 { terms.pop().expect("one term") } else { Expr::Or(terms) })
    }

    fn and_expr(&mut self, depth: usize) -> Result<Expr, FilterError> {
        let mut terms = vec![self.not_expr(depth)?];
        while keyword(self.peek(), "and") {
            self.bump();
            terms.push(self.not_expr(depth)?);
        }
        Ok(if terms.len() == 1 { terms.pop().expect("one term") } else { Expr::And(terms) })
    }

    fn not_expr(&mut self, depth: usize) -> Result<Expr, FilterError> {
        if depth > super::MAX_DEPTH {
            return Err(FilterError::at(
                self.at(),
                format!("the filter nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        if keyword(self.peek(), "not") {
            self.bump();
            return Ok(Expr::Not(Box::new(self.not_expr(depth + 1)?)));
        }
        self.primary(depth)
    }

    fn primary(&mut self, depth: usize) -> Result<Expr, FilterError> {
        if self.peek() == Some(&Token::LParen) {
            let open = self.at();
            self.bump();
            let inner = self.or_expr(depth + 1)?;
            if self.peek() != Some(&Token::RParen) {
                let found = describe(self.peek());
                return Err(FilterError::at(
                    self.at(),
                    format!("expected ')' to close the '(' at position {open}, found {found}"),
                ));
            }
            self.bump();
            return Ok(inner);
        }
        self.comparison()
    }

    fn field(&mut self) -> Result<(String, usize), FilterError> {
        let at = self.at();
        match self.peek() {
            Some(Token::Word(w))
                if !RESERVED.iter().any(|r| w.eq_ignore_ascii_case(r)) && !w.eq_ignore_ascii_case("null") =>
            {
                let name = w.clone();
                self.bump();
                Ok((name, at))
            }
            _ => Err(self.expected("a field name or '('")),
        }
    }

    fn literal(&mut self) -> Result<(Literal, usize), FilterError> {
        let at = self.at();
        let literal = match self.peek() {
            Some(Token::Int(n)) => Literal::Int(*n),
            Some(Token::Float(f)) => Literal::Float(*f),
            Some(Token::Str(s)) => Literal::Str(s.clone()),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("false") => Literal::Bool(false),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("null") => Literal::Null,
            _ => return Err(self.expected("a value (a number, a 'quoted string', true, false or null)")),
        };
        self.bump();
        Ok((literal, at))
    }

    fn comparison(&mut self) -> Result<Expr, FilterError> {
        let (field, field_at) = self.field()?;
        self.comparisons += 1;
        if self.comparisons > MAX_COMPARISONS {
            return Err(FilterError::at(
                field_at,
                format!("a filter may hold at most {MAX_COMPARISONS} comparisons"),
            ));
        }
        let op = match self.peek() {
            Some(Token::Word(w)) => {
                let w = w.to_ascii_lowercase();
                match w.as_str() {
                    "eq" => Some(Op::Eq),
                    "ne" => Some(Op::Ne),
                    "gt" => Some(Op::Gt),
                    "ge" => Some(Op::Ge),
                    "lt" => Some(Op::Lt),
                    "le" => Some(Op::Le),
                    "like" => Some(Op::Like),
                    "in" => None,
                    _ => return Err(self.expected("an operator (eq, ne, gt, ge, lt, le, like or in)")),
                }
            }
            _ => return Err(self.expected("an operator (eq, ne, gt, ge, lt, le, like or in)")),
        };
        self.bump();
        let Some(op) = op else { return self.in_list(field, field_at) };
        let (value, value_at) = self.literal()?;
        Ok(Expr::Cmp { field, field_at, op, value, value_at })
    }

    fn in_list(&mut self, field: String, field_at: usize) -> Result<Expr, FilterError> {
        if self.peek() != Some(&Token::LParen) {
            return Err(self.expected("'(' to start the list after 'in'"));
        }
        self.bump();
        let mut values = vec![self.literal()?];
        while self.peek() == Some(&Token::Comma) {
            self.bump();
            values.push(self.literal()?);
        }
        if self.peek() != Some(&Token::RParen) {
            return Err(self.expected("',' or ')' in the 'in' list"));
        }
        self.bump();
        Ok(Expr::In { field, field_at, values })
    }
}

/// Parses filter text into its syntax tree.
pub fn parse(text: &str) -> Result<Expr, FilterError> {
    let length = text.chars().count();
    if length > MAX_LENGTH {
        return Err(FilterError::at(
            MAX_LENGTH,
            format!("a filter may be at most {MAX_LENGTH} characters long"),
        ));
    }
    let (tokens, lex_error) = lex(text);
    let end = lex_error.as_ref().map_or(length, |e| e.position);
    let mut parser = Parser { tokens, next: 0, end, comparisons: 0 };
    match (parser.filter(), lex_error) {
        // The parser stopped where the lexer did (or ran through): the lexer knows why.
        (Err(e), Some(lexical)) if e.position >= lexical.position => Err(lexical),
        (Ok(_), Some(lexical)) => Err(lexical),
        (result, _) => result,
    }
}

impl Parser {
    fn filter(&mut self) -> Result<Expr, FilterError> {
        if self.peek().is_none() {
            return Err(FilterError::at(self.at(), "the filter is empty"));
        }
        let expr = self.or_expr(0)?;
        if self.peek().is_some() {
            let found = describe(self.peek());
            let hint =
                if self.peek() == Some(&Token::RParen) { " (this ')' has no matching '(')" } else { "" };
            return Err(FilterError::at(
                self.at(),
                format!("expected 'and', 'or' or the end of the filter, found {found}{hint}"),
            ));
        }
        Ok(expr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(field: &str, op: Op, value: Literal) -> Expr {
        Expr::Cmp { field: field.into(), field_at: 0, op, value, value_at: 0 }
    }

    fn strip(expr: Expr) -> Expr {
        match expr {
            Expr::Or(v) => Expr::Or(v.into_iter().map(strip).collect()),
            Expr::And(v) => Expr::And(v.into_iter().map(strip).collect()),
            Expr::Not(e) => Expr::Not(Box::new(strip(*e))),
            Expr::Cmp { field, op, value, .. } => Expr::Cmp { field, field_at: 0, op, value, value_at: 0 },
            Expr::In { field, values, .. } => {
                Expr::In { field, field_at: 0, values: values.into_iter().map(|(v, _)| (v, 0)).collect() }
            }
        }
    }

    #[test]
    fn the_seed_example_parses_with_precedence() {
        let expr = strip(parse("(date eq '2016-05-01') AND ((distance gt 20) OR (distance lt 10))").unwrap());
        assert_eq!(
            expr,
            Expr::And(vec![
                cmp("date", Op::Eq, Literal::Str("2016-05-01".into())),
                Expr::Or(vec![
                    cmp("distance", Op::Gt, Literal::Int(20)),
                    cmp("distance", Op::Lt, Literal::Int(10))
                ]),
            ])
        );
        // `and` binds tighter than `or`; `not` tighter than both.
        let expr = strip(parse("a eq 1 or b eq 2 and not c eq 3").unwrap());
        assert_eq!(
            expr,
            Expr::Or(vec![
                cmp("a", Op::Eq, Literal::Int(1)),
                Expr::And(vec![
                    cmp("b", Op::Eq, Literal::Int(2)),
                    Expr::Not(Box::new(cmp("c", Op::Eq, Literal::Int(3))))
                ]),
            ])
        );
    }

    #[test]
    fn literals_and_keywords() {
        let expr = strip(
            parse("notes EQ 'it''s' Or weather.code In (1, -2, 3.5e1) and ok ne NULL and x eq TRUE").unwrap(),
        );
        let Expr::Or(terms) = expr else { panic!() };
        assert_eq!(terms[0], cmp("notes", Op::Eq, Literal::Str("it's".into())));
        let Expr::And(rest) = &terms[1] else { panic!() };
        assert_eq!(
            rest[0],
            Expr::In {
                field: "weather.code".into(),
                field_at: 0,
                values: vec![(Literal::Int(1), 0), (Literal::Int(-2), 0), (Literal::Float(35.0), 0)]
            }
        );
        assert_eq!(rest[1], cmp("ok", Op::Ne, Literal::Null));
        assert_eq!(rest[2], cmp("x", Op::Eq, Literal::Bool(true)));
    }

    #[test]
    fn errors_say_where_and_what() {
        let err = |text: &str| parse(text).unwrap_err();
        assert_eq!(err("(distance gt 20").position, 15);
        assert!(err("(distance gt 20").message.contains("expected ')'"));
        assert_eq!(err("distance gt 20)").position, 14);
        assert!(err("distance gt 20)").message.contains("no matching '('"));
        assert_eq!(err("distance gt 20 extra").position, 15);
        assert_eq!(err("distance gt").position, 11);
        assert!(err("distance gt").message.contains("expected a value"));
        assert_eq!(err("distance is 3").position, 9);
        assert_eq!(err("notes eq 'open").position, 9);
        assert_eq!(err("a eq 1 and ; drop table users;").position, 11);
        assert_eq!(err("").position, 0);
        assert_eq!(err("and eq 1").position, 0);
        assert_eq!(err("é eq 1").position, 0);
        assert_eq!(err("x eq 99999999999999999999").position, 5);
        assert_eq!(err("x eq 12abc").position, 7);
    }

    #[test]
    fn limits() {
        assert!(parse(&format!("a eq '{}'", "x".repeat(2050))).unwrap_err().message.contains("2048"));
        let deep = format!("{}a eq 1{}", "(".repeat(33), ")".repeat(33));
        assert!(parse(&deep).unwrap_err().message.contains("deeper"));
        let fine = format!("{}a eq 1{}", "(".repeat(32), ")".repeat(32));
        assert!(parse(&fine).is_ok());
        let nots = format!("{}a eq 1", "not ".repeat(40));
        assert!(parse(&nots).is_err());
        let many = vec!["a eq 1"; 65].join(" or ");
        assert!(parse(&many).unwrap_err().message.contains("64"));
        assert!(parse(&vec!["a eq 1"; 64].join(" or ")).is_ok());
    }
}

#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::parse;

    /// Pieces of the language, glued at random: near-misses reach deeper than noise.
    fn fragments() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("(".to_owned()),
            Just(")".to_owned()),
            Just(",".to_owned()),
            Just(" and ".to_owned()),
            Just(" OR ".to_owned()),
            Just("not ".to_owned()),
            Just(" in ".to_owned()),
            Just(" eq ".to_owned()),
            Just(" gt ".to_owned()),
            Just(" like ".to_owned()),
            Just("'".to_owned()),
            Just("''".to_owned()),
            Just("null".to_owned()),
            Just("weather.code".to_owned()),
            "[a-z_.]{1,6}",
            "-?[0-9]{1,25}(\\.[0-9]{0,3})?(e[+-]?[0-9]{1,4})?",
            "'[^']{0,5}'",
            "\\PC{1,3}",
        ];
        prop::collection::vec(piece, 0..40).prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
            if let Err(e) = parse(&text) {
                prop_assert!(e.position <= text.chars().count());
            }
        }

        #[test]
        fn language_like_text_never_panics(text in fragments()) {
            if let Err(e) = parse(&text) {
                prop_assert!(e.position <= text.chars().count().max(super::MAX_LENGTH));
                prop_assert!(!e.message.is_empty());
            }
        }
    }
}
