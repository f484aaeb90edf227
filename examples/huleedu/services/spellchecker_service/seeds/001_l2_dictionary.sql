-- Typical learner misspellings in English and Swedish. Re-runnable: unique (language, lower(misspelling)).
INSERT INTO l2_error_dictionary (language, misspelling, correction, frequency, created_at)
SELECT language, misspelling, correction, frequency, timestamptz '2025-08-01 00:00+00'
  FROM (VALUES
        ('en', 'recieve', 'receive', 412), ('en', 'definately', 'definitely', 388),
        ('en', 'alot', 'a lot', 951), ('en', 'becuase', 'because', 640),
        ('en', 'thier', 'their', 577), ('en', 'wich', 'which', 530),
        ('en', 'untill', 'until', 301), ('en', 'tommorow', 'tomorrow', 222),
        ('en', 'enviroment', 'environment', 298), ('en', 'beleive', 'believe', 350),
        ('en', 'seperate', 'separate', 276), ('en', 'goverment', 'government', 190),
        ('en', 'freind', 'friend', 260), ('en', 'realy', 'really', 488),
        ('en', 'teached', 'taught', 97), ('en', 'informations', 'information', 143),
        ('sv', 'eftesom', 'eftersom', 133), ('sv', 'tilsammans', 'tillsammans', 121),
        ('sv', 'komunen', 'kommunen', 88), ('sv', 'intresant', 'intressant', 142),
        ('sv', 'anvenda', 'använda', 75), ('sv', 'kollektivtrafick', 'kollektivtrafik', 41),
        ('sv', 'iallafall', 'i alla fall', 203), ('sv', 'egentligt', 'egentligen', 66)
       ) AS d (language, misspelling, correction, frequency)
ON CONFLICT (language, lower(misspelling)) DO NOTHING;
