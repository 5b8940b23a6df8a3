module github.com/serverauth/serverauth

go 1.26.0

require golang.org/x/oauth2 v0.37.0

require (
	github.com/go-json-experiment/json v0.0.0-20260820222146-c27c302e5fc3 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
	google.golang.org/api v0.310.0 // indirect
)
