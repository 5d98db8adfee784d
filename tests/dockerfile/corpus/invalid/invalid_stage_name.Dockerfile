FROM debian AS 1abc
