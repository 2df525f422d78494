//! liquidjs's answers (from the oracle) for templates in the subset, and what is rejected.

use serde_json::{Value, json};

use super::*;

fn event() -> Value {
    json!({"event":"Order Completed","s":"Hello World","n":59.9,"i":7,"z":0,"neg":-3.5,"e":"","nul":null,"t":true,"f":false,
           "arr":["a","b","c"],"nums":[3,1,2],"o":{"a":1,"b":{"c":"x"}},"emptyarr":[],"emptyobj":{},"html":"<b>&\"'</b>",
           "sp":"  pad  ","nested":[[1,2],[3]],"objs":[{"a":1},{"a":2}],"num_s":"42","k":"event","sx":"10","ws":"  \t",
           "astral":"😀bc","ss":"ßtraße","os":{"a":1,"size":"S"},"ol":{"first":"F","length":1,"0":"zero"}})
}

fn render(src: &str) -> Result<String, String> {
    let event = event();
    match Liquid::parse(src) {
        Ok(t) => t.render(&Mapped::Ref(&event)),
        Err(LiquidError::Fails(m)) => Err(format!("fails: {m}")),
        Err(LiquidError::Unsupported(m)) => Err(format!("unsupported: {m}")),
    }
}

#[test]
fn renders_as_liquidjs() {
    let cases = [
        ("{{ s }}", "Hello World"),
        (
            "{{ n }}|{{ i }}|{{ z }}|{{ nul }}|{{ missing }}|{{ t }}|{{ f }}",
            "59.9|7|0|||true|false",
        ),
        (
            "{{ arr }}|{{ nums }}|{{ o }}|{{ emptyarr }}|{{ nested }}|{{ objs }}",
            "abc|312|[object Object]||123|[object Object][object Object]",
        ),
        (
            "{{ arr.size }}{{ arr.first }}{{ arr.last }}{{ s.size }}[{{ s.first }}]",
            "3ac11[]",
        ),
        (
            "{{ arr[0] }}{{ arr[-1] }}{{ o['b'].c }}{{ o[\"a\"] }}{{ [k] }}",
            "acx1Order Completed",
        ),
        (
            "{{ o.size }}|{{ os.size }}|{{ emptyobj.size }}|{{ i.size }}|{{ arr.length }}|{{ arr.1 }}|{{ s[0] }}|{{ s[-1] }}|{{ size }}",
            "2|S|0||3|b|H||0",
        ),
        (
            "{{ 'lit' }}{{ \"lit\" }}{{ 12 }}{{ 1.50 }}{{ true }}{{ nil }}{{ -2 }}{{ 007 }}{{ -0 }}{{ +5 }}",
            "litlit121.5true-2705",
        ),
        (
            "{{ s | upcase }}|{{ s | downcase }}|{{ 'hello world' | capitalize }}|{{ 'HELLO' | capitalize }}",
            "HELLO WORLD|hello world|Hello world|Hello",
        ),
        (
            "{{ s | append: '!' }}{{ s | prepend: '>' }}{{ s | append: 1 }}",
            "Hello World!>Hello WorldHello World1",
        ),
        (
            "{{ sp | strip }}|{{ sp | lstrip }}|{{ sp | rstrip }}|",
            "pad|pad  |  pad|",
        ),
        (
            "{{ s | remove: 'l' }}|{{ s | remove_first: 'l' }}|{{ s | replace: 'l', 'L' }}|{{ s | replace_first: 'l', '$&' }}",
            "Heo Word|Helo World|HeLLo WorLd|He$&lo World",
        ),
        (
            "{{ s | truncate: 5 }}|{{ s | truncate: 5, '' }}|{{ s | truncate: 20 }}|{{ s | truncate: 3 }}|{{ i | truncate: 0 }}",
            "He...|Hello|Hello World|...|...",
        ),
        (
            "{{ astral | truncate: 2, '' }}|{{ astral | size }}|{{ astral | capitalize }}|{{ ss | upcase }}|{{ ss | capitalize }}",
            "😀b|4|😀bc|SSTRASSE|SStraße",
        ),
        (
            "{{ s | size }}|{{ arr | join: '-' }}|{{ arr | join }}|{{ arr | first }}|{{ arr | last }}|{{ s | first }}{{ s | last }}",
            "11|a-b-c|a b c|a|c|Hd",
        ),
        (
            "{{ s | split: ' ' }}|{{ s | split: ' ' | last }}|{{ s | split: '' | join: ',' }}|{{ s | split: 'l' | size }}",
            "HelloWorld|World|H,e,l,l,o, ,W,o,r,l,d|4",
        ),
        (
            "{{ nested | join: '-' }}|{{ nested | json }}|{{ nul | json }}|{{ missing | json }}|{{ nested | first }}",
            "1,2-3|[[1,2],[3]]|null||12",
        ),
        (
            "{{ ol | first }}|{{ ol.first }}|{{ e | first }}|{{ i | first }}|",
            "zero|F|||",
        ),
        (
            "{{ i | plus: 1 }}|{{ i | minus: 10 }}|{{ i | times: 1.5 }}|{{ i | divided_by: 2 }}|{{ i | modulo: 3 }}|{{ i | modulo: -3 }}",
            "8|-3|10.5|3.5|1|-2",
        ),
        (
            "{{ neg | abs }}|{{ n | round }}|{{ n | round: 1 }}|{{ n | ceil }}|{{ n | floor }}|{{ i | at_least: 10 }}|{{ i | at_most: 5 }}",
            "3.5|60|59.9|60|59|10|5",
        ),
        (
            "{{ num_s | plus: 1 }}|{{ s | plus: 1 }}|{{ ' 12 ' | plus: 0 }}|{{ '0x1A' | plus: 0 }}|{{ arr | plus: 1 }}|{{ t | plus: 1 }}",
            "43|1|12|26|1|2",
        ),
        (
            "{{ 2.5 | round }}|{{ -2.5 | round }}|{{ 1.005 | round: 2 }}|{{ 1234.5 | round: -2 }}|{{ 0.1 | plus: 0.2 }}|{{ i | divided_by: 0 }}",
            "3|-3|1.01|1200|0.30000000000000004|Infinity",
        ),
        (
            "{{ missing | default: 'd' }}{{ e | default: 'd' }}{{ f | default: 'd' }}{{ z | default: 'd' }}{{ emptyarr | default: 'd' }}{{ nul | default: 'd' }}",
            "ddd0dd",
        ),
        (
            "{{ f | default: 'd', allow_false: true }}|{{ s | default: 'x', allow_false: true }}",
            "false|Hello World",
        ),
        (
            "{{ html | escape }}|{{ s | url_encode }}|{{ 'é&=/?!*()~' | url_encode }}|{{ o | json }}|{{ s | json }}",
            "&lt;b&gt;&amp;&#34;&#39;&lt;/b&gt;|Hello+World|%C3%A9%26%3D%2F%3F!*()~|{\"a\":1,\"b\":{\"c\":\"x\"}}|\"Hello World\"",
        ),
        ("{{ s | nosuchfilter }}|{{ nil | json }}", "Hello World|{}"),
        (
            "{% if n > 50 %}big{% else %}small{% endif %}{% if e %}t{% endif %}{% if z %}t{% endif %}{% if nul %}x{% else %}f{% endif %}",
            "bigttf",
        ),
        (
            "{% if s == 'Hello World' %}eq{% endif %}{% if s contains 'World' %}c{% endif %}{% if arr contains 'b' %}c{% endif %}",
            "eqcc",
        ),
        (
            "{% if t and f %}1{% elsif t or f %}2{% endif %}{% if f or t and f %}1{% else %}0{% endif %}{% if f and f or t %}1{% else %}0{% endif %}",
            "200",
        ),
        (
            "{% if e == empty %}E{% endif %}{% if sp == blank %}B{% endif %}{% if nul == blank %}B{% endif %}{% if ws == blank %}W{% endif %}{% if f == blank %}F{% endif %}",
            "EBWF",
        ),
        (
            "{% if emptyobj == empty %}y{% endif %}{% if arr != empty %}y{% endif %}{% if empty == empty %}y{% else %}n{% endif %}",
            "yyn",
        ),
        (
            "{% if sx > 9 %}y{% else %}n{% endif %}{% if sx > '9' %}y{% else %}n{% endif %}{% if nul < 1 %}y{% else %}n{% endif %}{% if missing < 1 %}y{% else %}n{% endif %}",
            "ynyn",
        ),
        (
            "{% if arr == arr %}y{% endif %}{% if o == o %}y{% endif %}{% if nul == nil %}y{% endif %}{% if missing == nil %}y{% endif %}",
            "yyyy",
        ),
        (
            "{% if s contains nil %}y{% else %}n{% endif %}{% if i contains 7 %}y{% else %}n{% endif %}",
            "nn",
        ),
        (
            "{% unless t %}a{% elsif t %}b{% else %}c{% endunless %}{% unless f %}a{% else %}c{% endunless %}",
            "ba",
        ),
        (
            "{% assign x = s | upcase %}{{ x }}|{% capture c %}a{{ i }}{% endcapture %}{{ c }}|{% assign s = 'x' %}{{ s }}",
            "HELLO WORLD|a7|x",
        ),
        (
            "{% assign e = missing %}[{{ e }}]{% assign x = nil %}{% if x == nil %}y{% endif %}",
            "[]y",
        ),
        ("{% comment %}x{{ s }}{% nosuch %}{% endcomment %}y", "y"),
        (
            "a {{- s -}} b|a  {{- s }}  b|a  {{ s -}}  \n\n b|a {%- if t -%} x {%- endif -%} b",
            "aHello Worldb|aHello World  b|a  Hello Worldb|axb",
        ),
        (
            "{{ i == 7 }}|{{ i == 7.0 }}|{{ t and f }}|{{ s.length }}|{{ \"a'b\" }}|{{ s|upcase }}|{{ s | upcase | downcase | size }}",
            "true|true|false|11|a'b|HELLO WORLD|11",
        ),
        ("x \u{a0} {{- s -}} \u{a0}\u{feff} y", "xHello World\u{feff} y"),
        ("{{ s | truncate: 3, missing }}|{{ s | truncate: 3, nil }}", "...|Hel"),
        ("", ""),
    ];
    for (src, want) in cases {
        assert_eq!(render(src).as_deref(), Ok(want), "{src}");
    }
}

#[test]
fn failures_and_unsupported_constructs() {
    let fails = [
        "{% for a in arr %}{{a}}{% endfor %}",
        "{% case i %}{% when 7 %}seven{% endcase %}",
        "{% include 'x' %}",
        "{% nosuchtag %}",
        "{% if t %}x",
        "{{ s }",
        "{% endif %}",
        "{% if t %}{% else %}{% else %}{% endif %}",
        "{% if t %}x{% endif x %}",
        "{% capture c %}x",
    ];
    for src in fails {
        assert!(matches!(Liquid::parse(src), Err(LiquidError::Fails(_))), "{src}");
    }
    let unsupported = [
        "{% echo s %}",
        "{% raw %}{{ s }}{% endraw %}",
        "{% increment v %}",
        "{{ s | date: '%Y' }}",
        "{{ s | append }}",
        "{{ '\\n' }}",
        "{{ (1..3) }}",
        "{{ 'abc'.size }}",
        "{{ a b }}",
        "{{ s | }}",
        "{{ }}",
        "{{ i-1 }}x{{ 1.5.2 }}",
        "{% if s | upcase == 'A' %}y{% endif %}",
        "{{ s | truncate: n }}",
        "{{ s | upcase: 1 }}",
    ];
    for src in unsupported {
        assert!(matches!(Liquid::parse(src), Err(LiquidError::Unsupported(_))), "{src}");
    }
}

#[test]
fn disabled_filters_fail_when_they_run() {
    assert_eq!(render("{% if f %}{{ s | sort }}{% endif %}ok").as_deref(), Ok("ok"));
    assert_eq!(
        render("{{ s | sort }}"),
        Err("filter \"sort\" is disabled, line:1, col:1".to_owned())
    );
}
